import type { LabelValues } from 'prom-client'

type Level = Map<unknown, unknown>

const LEAF = Symbol('leaf')

/**
 * The entries kept per label set by the batched metrics, found again through a Map per label (a
 * lookup by each value costs less than building one key from them all, as prom-client does on
 * every call). A label set's names are checked once, when its entry is made; `all` lists the
 * entries in the order their label sets were first seen.
 */
export class LabelSets<T extends string, Entry> {
  private root: Level = new Map()
  private entries: Entry[] = []
  private readonly known: ReadonlySet<string>

  constructor(
    private readonly names: readonly T[],
    private readonly create: (labels: LabelValues<T>) => Entry,
  ) {
    this.known = new Set<string>(names)
  }

  get all(): readonly Entry[] {
    return this.entries
  }

  /** The entry of `labels`' label set, made the first time it is seen. */
  entry(labels: LabelValues<T>): Entry {
    let level = this.root
    for (const name of this.names) {
      const value = labels[name]
      let next = level.get(value) as Level | undefined
      if (!next) {
        next = new Map()
        level.set(value, next)
      }
      level = next
    }
    let entry = level.get(LEAF) as Entry | undefined
    if (entry === undefined) {
      // As prom-client words it.
      for (const name of Object.keys(labels))
        if (!this.known.has(name)) throw new Error(`Added label "${name}" is not included in initial labelset`)
      entry = this.create({ ...labels })
      level.set(LEAF, entry)
      this.entries.push(entry)
    }
    return entry
  }

  clear(): void {
    this.root = new Map()
    this.entries = []
  }
}
