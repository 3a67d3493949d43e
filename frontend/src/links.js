// What the link form accepts: http(s), mailto and tel addresses, and relative ones.
import { LINK_PROTOCOLS, isAllowedHref } from './extensions.js'

/**
 * Turn what someone typed into an href: `{href}` ('' means "remove the link") or `{error}`.
 * "example.com/x" becomes "https://example.com/x", "ann@example.com" a mailto: link;
 * `javascript:`, `data:` and every other scheme are refused.
 */
export function normalizeHref (input) {
  const value = String(input ?? '').trim()
  if (!value) return { href: '' }
  // eslint-disable-next-line no-control-regex
  const compact = value.replace(/[\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u2029\u205f\u3000\ufeff]/g, '')
  const hostWithPort = /^[a-z0-9.-]+:\d+(?:[/?#]|$)/i.test(compact)
  if (/^[a-z][a-z0-9+.-]*:/i.test(compact) && !hostWithPort) {
    if (!isAllowedHref(compact)) {
      return { error: `Only ${LINK_PROTOCOLS.join(', ')} links are allowed.` }
    }
    return { href: compact }
  }
  if (/^[/?#.]/.test(compact)) return { href: compact }
  if (/^[^\s@/]+@[^\s@/]+\.[^\s@/]+$/.test(compact)) return { href: `mailto:${compact}` }
  if (/\s/.test(value)) return { error: 'That does not look like a web address.' }
  return { href: `https://${compact}` }
}
