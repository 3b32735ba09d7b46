import { groupConfig } from './shared.mjs'

// Group C of issue 16: token and money budgets (reserve, renew, settle, charge), the in-memory lease ledger
// that is the reference for the Redis scripts, and the memory store's counter methods (its cache
// LRU is not budget code). The Lua of redis-scripts.ts and the counter calls of redis-store.ts are
// left out: their mutants only die against a real redis-server (integration project, per mutant
// too slow for two shared cores); test/integration/redis-budget-store.test.ts runs the same
// contract (test/contracts/budget-store.ts) against them as against the ledger.
export default groupConfig({
  name: 'budget',
  mutate: [
    'src/budget/index.ts',
    'src/budget/answer-cap.ts',
    'src/budget/charge.ts',
    'src/budget/charge-batcher.ts',
    'src/budget/cost.ts',
    'src/budget/counters.ts',
    'src/budget/lease-keeper.ts',
    'src/budget/settler.ts',
    'src/budget/rate-limit-headers.ts',
    'src/budget/refusal.ts',
    'src/budget/reservation.ts',
    'src/budget/windows.ts',
    'src/store/budget-ledger.ts',
    'src/store/memory-store.ts:29-31',
    'src/store/memory-store.ts:70-88',
  ],
  tests: ['src/budget/', 'src/store/', 'test/app/budget.test.ts', 'test/app/usd-budget.test.ts'],
})
