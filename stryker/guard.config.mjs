import { groupConfig } from './shared.mjs'

// Group A of issue 16: the SSRF guard of the image downloader.
export default groupConfig({
  name: 'guard',
  mutate: [
    'src/image-fetch/address-policy.ts',
    'src/image-fetch/host-policy.ts',
    'src/image-fetch/url-guard.ts',
    'src/image-fetch/guarded-connector.ts',
  ],
  tests: ['src/image-fetch/', 'test/app/image-ssrf.test.ts', 'test/app/image-fetch.test.ts'],
})
