import type { Config } from '../config/schema.js'

export type Who = { key_alias: string; team: string; model: string }

/** Whoever is calling, as far as labels care: names from the config file, never the secret. */
type Caller = Readonly<{ keyAlias: string; team: string }>

/**
 * Metric label values from config only: a configured model's `metricsLabel` (its id unless set),
 * `other` for anything else; key alias and team from the authenticated key's config entry.
 */
export function createLabeler(config: Pick<Config, 'models'>) {
  const modelLabels = new Map(config.models.map((m) => [m.id, m.metricsLabel ?? m.id]))
  const modelLabel = (model: { id: string } | undefined): string => (model && modelLabels.get(model.id)) || 'other'
  return {
    modelLabel,
    who: (caller: Caller | undefined, model: { id: string } | undefined): Who => ({
      key_alias: caller?.keyAlias ?? 'none',
      team: caller?.team ?? 'none',
      model: modelLabel(model),
    }),
  }
}

export type Labeler = ReturnType<typeof createLabeler>
