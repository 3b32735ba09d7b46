import type { BackendConfig } from '../config/schema.js'

type Backends = Readonly<Record<string, BackendConfig>>
type Visit = (name: string, backend: BackendConfig) => Promise<void>

/**
 * Runs `visit` for every backend `schedule` gives a schedule (enabled, and how often), at once and
 * then every `intervalMs` of its own; returns what stops them all. Timers never keep the process alive.
 */
export function visitPeriodically(
  backends: Backends,
  schedule: (backend: BackendConfig) => { enabled: boolean; intervalMs: number },
  visit: Visit,
): () => void {
  const timers: NodeJS.Timeout[] = []
  for (const [name, backend] of Object.entries(backends)) {
    const { enabled, intervalMs } = schedule(backend)
    if (!enabled) continue
    const run = () => void visit(name, backend)
    run()
    const timer = setInterval(run, intervalMs)
    timer.unref()
    timers.push(timer)
  }
  return () => timers.forEach(clearInterval)
}

/** Runs `visit` once for every backend `enabled` picks; resolves when all are done (tests await it). */
export async function visitOnce(backends: Backends, enabled: (backend: BackendConfig) => boolean, visit: Visit): Promise<void> {
  await Promise.all(
    Object.entries(backends)
      .filter(([, backend]) => enabled(backend))
      .map(([name, backend]) => visit(name, backend)),
  )
}
