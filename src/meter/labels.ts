import type { Principal } from '../auth/principal.js'
import type { Config, ModelConfig } from '../config/schema.js'

export type Who = { key_alias: string; team: string; model: string }

/**
 * Metric label values from config only: a configured model's `metricsLabel` (its id unless set),
 * `other` for anything else; key alias and team from the authenticated key's config entry.
 */
export function createLabeler(config: Config) {
  const modelLabels = new Map(config.models.map((m) => [m.id, m.metricsLabel ?? m.id]))
  const modelLabel = (model: ModelConfig | undefined): string => (model && modelLabels.get(model.id)) || 'other'
  return {
    modelLabel,
    who: (principal: Principal | undefined, model: ModelConfig | undefined): Who => ({
      key_alias: principal?.keyAlias ?? 'none',
      team: principal?.team ?? 'none',
      model: modelLabel(model),
    }),
  }
}

export type Labeler = ReturnType<typeof createLabeler>
