// The presence bar: one avatar (initials in a circle of the person's colour, their name on
// hover) per person in the document, me first and marked "(you)". Names and colours come
// from the awareness states, where the server has replaced whatever a client claimed with
// its account's name and colour; for myself the page's own account data is used.

const HEX = /^#[0-9a-fA-F]{6}$/
const MAX_SHOWN = 8

export function initials (name) {
  const words = String(name || '').trim().split(/\s+/).filter(Boolean)
  if (!words.length) return '?'
  const first = Array.from(words[0])[0] || ''
  const last = words.length > 1 ? Array.from(words[words.length - 1])[0] || '' : ''
  return (first + last).toUpperCase()
}

// Black or white initials, whichever reads better on the colour.
function inkFor (color) {
  const n = parseInt(color.slice(1), 16)
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255]
  return (0.299 * r + 0.587 * g + 0.114 * b) > 160 ? '#111' : '#fff'
}

/** The people present: [{name, color, me, clients}], me first, then by name. */
export function peopleFrom (awareness, me) {
  const byKey = new Map()
  const add = (name, color, isMe) => {
    const key = `${name}\u0000${color}`
    const person = byKey.get(key) || { name, color, me: false, clients: 0 }
    person.clients += 1
    person.me = person.me || isMe
    byKey.set(key, person)
  }
  add(me.name, me.color, true)
  for (const [clientId, state] of awareness.getStates()) {
    if (clientId === awareness.clientID) continue
    const user = state && state.user
    if (!user || typeof user.name !== 'string') continue
    const color = HEX.test(user.color) ? user.color : '#888888'
    add(user.name, color, false)
  }
  return Array.from(byKey.values()).sort((a, b) =>
    (b.me - a.me) || a.name.localeCompare(b.name))
}

export function mountPresence (container, awareness, me) {
  container.classList.add('presence')
  container.setAttribute('role', 'list')
  let shown = null
  const render = () => {
    const people = peopleFrom(awareness, me)
    // Cursor moves change awareness states too: redraw only when the people change (a
    // redraw under the pointer would close the tooltip being read).
    const key = JSON.stringify(people)
    if (key === shown) return
    shown = key
    container.setAttribute('aria-label',
      people.length === 1 ? 'Only you are here' : `${people.length} people here`)
    const items = people.slice(0, MAX_SHOWN).map((person) => {
      const label = person.me ? `${person.name} (you)` : person.name
      const item = document.createElement('span')
      item.className = 'presence__avatar'
      item.setAttribute('role', 'listitem')
      item.title = person.clients > 1 && !person.me ? `${label} · ${person.clients} tabs` : label
      item.dataset.name = person.name
      if (person.me) item.dataset.you = 'true'
      item.style.backgroundColor = person.color
      item.style.color = inkFor(person.color)
      const text = document.createElement('span')
      text.setAttribute('aria-hidden', 'true')
      text.textContent = initials(person.name)
      const name = document.createElement('span')
      name.className = 'visually-hidden'
      name.textContent = label
      item.append(text, name)
      return item
    })
    if (people.length > MAX_SHOWN) {
      const more = document.createElement('span')
      more.className = 'presence__avatar presence__more'
      more.setAttribute('role', 'listitem')
      const rest = people.slice(MAX_SHOWN).map((p) => p.name)
      more.title = rest.join(', ')
      more.textContent = `+${rest.length}`
      items.push(more)
    }
    container.replaceChildren(...items)
  }
  // 'change' fires when someone joins, leaves or changes their state; not on heartbeats.
  awareness.on('change', render)
  render()
  return { render }
}
