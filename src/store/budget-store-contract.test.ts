import { budgetStoreAmountsContract } from '../../test/contracts/budget-store-amounts.js'
import { budgetStoreContract, type BudgetStoreUnderTest } from '../../test/contracts/budget-store.js'
import { MemoryStore } from './memory-store.js'

let t = 0
const memory = async (): Promise<BudgetStoreUnderTest> => ({
  store: new MemoryStore(1 << 20, { now: () => t }),
  key: (name) => name,
  shortLeaseMs: 1_000,
  letShortLeasesExpire: async () => {
    t += 1_000
  },
})
budgetStoreContract('MemoryStore', memory)
budgetStoreAmountsContract('MemoryStore', memory)
