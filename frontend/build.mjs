// Build the browser assets: `npm run build` (or `node frontend/build.mjs`).
//   frontend/src/editor.js  --esbuild-->  frontend/static/frontend/editor.js (IIFE, minified, es2020)
//   frontend/src/board/main.js  --esbuild-->  frontend/static/frontend/board.js (same options)
//   node_modules/htmx.org/dist/htmx.min.js  --copy-->  frontend/static/frontend/htmx.min.js
// All outputs are gitignored build artefacts.
import { build } from 'esbuild'
import { copyFile, mkdir, stat } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const outDir = join(here, 'static', 'frontend')

await mkdir(outDir, { recursive: true })

const started = Date.now()
const bundles = [
  { entry: join(here, 'src', 'editor.js'), out: 'editor.js' },
  { entry: join(here, 'src', 'board', 'main.js'), out: 'board.js' },
]
await Promise.all(bundles.map(({ entry, out }) => build({
  entryPoints: [entry],
  outfile: join(outDir, out),
  bundle: true,
  format: 'iife',
  minify: true,
  target: 'es2020',
  platform: 'browser',
  legalComments: 'none',
  logLevel: 'warning',
})))

await copyFile(
  join(root, 'node_modules', 'htmx.org', 'dist', 'htmx.min.js'),
  join(outDir, 'htmx.min.js'),
)

for (const name of ['editor.js', 'board.js', 'htmx.min.js']) {
  const file = join(outDir, name)
  const { size } = await stat(file)
  console.log(`${relative(root, file)}  ${(size / 1024).toFixed(1)} KiB`)
}
console.log(`built in ${Date.now() - started} ms`)
