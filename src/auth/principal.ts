/** Who is calling: names from config only, never the secret or its hash. */
export type Principal = Readonly<{
  keyAlias: string
  team: string
  /** Models this key may use; undefined means all. */
  models: readonly string[] | undefined
}>

export const ANONYMOUS: Principal = { keyAlias: 'anonymous', team: 'anonymous', models: undefined }
