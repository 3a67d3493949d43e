// The offline page shell (served at /sw.js, scope /). Document pages and static files are
// fetched from the network first and kept in a cache; when the network fails the kept copy
// is served, so a document opened before still opens offline (its content comes from
// IndexedDB, see frontend/src/offline.js). Nothing else (API, sign-in, sockets) is touched.
// Signing out forgets every kept page and every local document copy.
'use strict'
const CACHE = 'collab-offline-v1'
const DOCUMENT_PAGE = /^\/documents\/[0-9a-f-]{36}\/$/
const LOCAL_DB_PREFIX = 'collab-doc-'

self.addEventListener('install', () => self.skipWaiting())
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()))

function keepable (url) {
  return url.origin === self.location.origin &&
    (DOCUMENT_PAGE.test(url.pathname) || url.pathname.startsWith('/static/'))
}

async function keep (urls) {
  const cache = await caches.open(CACHE)
  await Promise.all(urls.map(async (raw) => {
    const url = new URL(raw, self.location.origin)
    if (!keepable(url)) return
    try {
      const response = await fetch(url, { credentials: 'same-origin' })
      if (response.ok && !response.redirected) await cache.put(url.pathname, response)
    } catch {}
  }))
}

async function networkFirst (request, url) {
  const cache = await caches.open(CACHE)
  try {
    const response = await fetch(request)
    // Only a page really served to this person is kept (not a redirect to sign in).
    if (response.ok && !response.redirected && response.type === 'basic') {
      cache.put(url.pathname, response.clone()).catch(() => {})
    }
    return response
  } catch (error) {
    const kept = await cache.match(url.pathname)
    if (kept) return kept
    throw error
  }
}

async function forgetEverything () {
  await caches.delete(CACHE)
  if (self.indexedDB && self.indexedDB.databases) {
    const databases = await self.indexedDB.databases()
    for (const { name } of databases) {
      if (name && name.startsWith(LOCAL_DB_PREFIX)) self.indexedDB.deleteDatabase(name)
    }
  }
}

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'keep' && Array.isArray(event.data.urls)) {
    event.waitUntil(keep(event.data.urls.slice(0, 50)))
  }
})

self.addEventListener('fetch', (event) => {
  const { request } = event
  const url = new URL(request.url)
  if (request.method === 'POST' && url.origin === self.location.origin &&
      url.pathname === '/accounts/logout/') {
    event.waitUntil(forgetEverything())
    return
  }
  if (request.method !== 'GET' || !keepable(url)) return
  event.respondWith(networkFirst(request, url))
})
