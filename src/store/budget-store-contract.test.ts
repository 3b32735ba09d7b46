import { budgetStoreContract } from '../../test/contracts/budget-store.js'
import { MemoryStore } from './memory-store.js'

let t = 0
budgetStoreContract('MemoryStore', async () => ({
  store: new MemoryStore(1 << 20, { now: () => t }),
  key: (name) => name,
  shortLeaseMs: 1_000,
  letShortLeasesExpire: async () => {
    t += 1_000
  },
}))
