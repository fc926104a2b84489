// The chat workspace: the conversation list (unread badges, last message, time, search, arrow
// keys) and the open thread (older pages on scroll up, quotes, reactions, ticks, media, voice
// notes), kept live by the event stream. The server scopes everything to the caller's lines.

import { api, query, withToken } from './api.js';
import { t } from './i18n.js';
import { h, replace, clock, listTime, dayLabel, fileSize, duration, contactName, phone, newKey, avatar, userAvatar } from './format.js';
import { icon, ticks } from './icons.js';
import { createComposer } from './composer.js';
import { createCrmBar, cardConversations, ofCard } from './crm_tab.js';

const STATUS_RANK = { pending: 0, sent: 1, delivered: 2, read: 3 };
const REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
const PAGE = 40;

export function createChat(ctx) {
  const lines = new Map();
  const convs = new Map();
  let searchResults = null; // null: no search; else conversation ids
  const searchHits = new Map(); // conversation id -> the message that matched the search
  let lineFilter = '';
  let active = null; // conversation id
  let visible = false;
  let focusedId = null;

  // The open thread.
  let messages = new Map();
  let nodes = new Map();
  let next = null;
  let loadingOlder = false;
  let threadToken = 0;
  // Statuses heard over the stream, by message id: one may arrive before the send's own answer.
  const statusSeen = new Map();
  const best = (m) => {
    const seen = statusSeen.get(m.id);
    if (seen && STATUS_RANK[seen] > STATUS_RANK[m.status]) m.status = seen;
    return m;
  };

  // --- layout --------------------------------------------------------------------------------
  const search = h('input', { class: 'input search-input', type: 'search', placeholder: t('chats.search'), 'aria-label': t('chats.search'), 'data-test': 'search' });
  const lineSelect = h('select', { class: 'select line-filter', 'aria-label': t('audit.line'), hidden: true, 'data-test': 'line-filter' });
  const list = h('ul', { class: 'conv-list', role: 'listbox', 'aria-label': t('tab.chats'), 'data-test': 'conversations' });
  const listNote = h('div', { class: 'list-note', 'data-test': 'list-note' });
  // In a CRM card's tab (client mode): the card's conversations only, and "new chat".
  const crm = ctx.session.crm || null;
  const crmBar = crm ? createCrmBar(ctx, { lines: () => lines, onStarted: async (id) => { await loadAll(); await open(id); } }) : null;
  const sidebar = h('aside', { class: 'sidebar' }, crmBar ? crmBar.el : null,
    h('div', { class: 'search-box' }, icon('search', 'search-icon'), search), lineSelect, list, listNote);
  // Writing first: a chat with a phone number on one of the caller's lines (the server lets the
  // line's assigned user and administrators, and checks the number with WhatsApp).
  const newChatBtn = h('button', { type: 'button', class: 'btn btn-small new-chat-btn', hidden: true, 'data-test': 'new-chat', onclick: () => toggleNewChat() }, icon('plus'), t('chats.new'));
  const newLine = h('select', { class: 'select', 'aria-label': t('chats.new.line'), 'data-test': 'new-chat-line' });
  const newPhone = h('input', { class: 'input', type: 'tel', inputmode: 'tel', autocomplete: 'off', placeholder: t('chats.new.phone'), 'aria-label': t('chats.new.phone'), 'data-test': 'new-chat-phone' });
  const newNote = h('div', { class: 'note note-error', hidden: true, role: 'alert', 'data-test': 'new-chat-error' });
  const newChatForm = h('form', { class: 'new-chat', hidden: true, 'data-test': 'new-chat-form', onsubmit: (e) => { e.preventDefault(); startChat(); } },
    newLine, newPhone,
    h('div', { class: 'new-chat-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary btn-small', 'data-test': 'new-chat-start' }, t('chats.new.start')),
      h('button', { type: 'button', class: 'btn btn-small', onclick: () => toggleNewChat(false) }, t('chats.new.cancel'))),
    newNote);
  // Below the search box; a CRM card's tab has its own (it starts chats with the card's numbers).
  if (!ctx.session.crm) sidebar.insertBefore(h('div', { class: 'new-chat-box' }, newChatBtn, newChatForm), lineSelect);

  const head = h('header', { class: 'thread-head', 'data-test': 'thread-head' });
  const top = h('div', { class: 'thread-top', 'data-test': 'thread-top' });
  const items = h('div', { class: 'thread-items' });
  const scroller = h('div', { class: 'thread-scroll', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0', 'data-test': 'thread' }, top, items);
  const emptyPane = h('div', { class: 'thread-empty', 'data-test': 'thread-empty' }, icon('chat', 'empty-icon'), h('p', {}, t('chats.pick')));
  const pane = h('section', { class: 'conversation', 'aria-label': t('chats.pick') });
  const composer = createComposer({
    ctx,
    conversation: () => active,
    onSent: (m) => { addMessages([m]); updatePreviewFrom(m); scrollToBottom(); },
    quoteText,
    senderName,
    dropZone: pane,
  });
  // Before the first message to a number that never wrote: the anti-ban limits.
  const coldNote = h('div', { class: 'note note-warn cold-note', hidden: true, role: 'status', 'data-test': 'cold-warning' });
  const threadBox = h('div', { class: 'thread-box', hidden: true }, head, coldNote, scroller, composer.el);
  pane.append(emptyPane, threadBox);
  const el = h('div', { class: 'chat-layout' }, sidebar, pane);

  // --- conversation list ---------------------------------------------------------------------

  async function loadAll() {
    const r = await api('GET', '/api/lines');
    lines.clear();
    for (const l of r.lines) lines.set(l.id, l);
    const lists = crm
      ? [await cardConversations(crm)]
      : await Promise.all(r.lines.map((l) => api('GET', `/api/lines/${l.id}/conversations`).then((x) => x.conversations, () => [])));
    if (crmBar) crmBar.render();
    const seen = new Set();
    for (const cs of lists) {
      for (const c of cs) {
        seen.add(c.id);
        const old = convs.get(c.id);
        const conv = { ...c, preview: old ? old.preview : undefined, previewId: old ? old.previewId : undefined, outreach: old ? old.outreach : undefined };
        // The list carries the newest message; a reaction is no preview, so then look further.
        if (c.last_message && c.last_message.kind !== 'reaction') {
          conv.preview = best(c.last_message);
          conv.previewId = c.last_message_id;
        } else if (c.last_message_id === null) {
          conv.preview = null;
          conv.previewId = null;
        }
        convs.set(c.id, conv);
      }
    }
    for (const id of [...convs.keys()]) if (!seen.has(id)) convs.delete(id);
    renderLineFilter();
    renderList();
    await Promise.all([...convs.values()].filter((c) => c.preview === undefined || c.previewId !== c.last_message_id).map(loadPreview));
    if (active !== null && !convs.has(active)) closeThread();
  }

  async function loadPreview(c) {
    try {
      const page = await api('GET', `/api/conversations/${c.id}/messages${query({ limit: 5 })}`);
      const m = page.messages.find((x) => x.kind !== 'reaction') || null;
      const cur = convs.get(c.id);
      if (!cur) return;
      cur.preview = m && best(m);
      cur.previewId = cur.last_message_id;
      renderList();
    } catch {
      /* the list still shows the conversation */
    }
  }

  function toggleNewChat(show = newChatForm.hidden) {
    newChatForm.hidden = !show;
    newNote.hidden = true;
    if (!show) return;
    const ls = [...lines.values()].sort((a, b) => a.id - b.id);
    replace(newLine, ls.map((l) => h('option', { value: String(l.id) }, l.name)));
    if (lineFilter && lines.has(Number(lineFilter))) newLine.value = lineFilter;
    newLine.hidden = ls.length < 2;
    newPhone.focus();
  }

  async function startChat() {
    const lineId = Number(newLine.value || ([...lines.keys()][0]));
    const number = newPhone.value.trim();
    if (!lineId || !number) return;
    newNote.hidden = true;
    try {
      const r = await api('POST', `/api/lines/${lineId}/chats`, { phone: number });
      const c = r.conversation;
      const old = convs.get(c.id);
      convs.set(c.id, { ...c, ...(old ? { preview: old.preview, previewId: old.previewId } : { preview: null, previewId: c.last_message_id }), outreach: r.outreach });
      newPhone.value = '';
      toggleNewChat(false);
      searchResults = null;
      search.value = '';
      renderList();
      await open(c.id);
    } catch (e) {
      newNote.textContent = e.message;
      newNote.hidden = false;
    }
  }

  function renderCold() {
    const c = convs.get(active);
    const o = c && c.outreach;
    const wrote = [...messages.values()].some((m) => m.direction === 'in' && m.kind !== 'system');
    if (!o || !o.cold || wrote) {
      coldNote.hidden = true;
      return;
    }
    const parts = [t('chats.cold', { per_hour: o.per_hour, per_day: o.per_day })];
    if (o.next_at) parts.push(t('chats.cold.next', { time: clock(o.next_at) }));
    coldNote.textContent = parts.join(' ');
    coldNote.hidden = false;
  }

  function renderLineFilter() {
    newChatBtn.hidden = lines.size === 0;
    lineSelect.hidden = lines.size < 2;
    const opts = [h('option', { value: '' }, t('audit.line.any'))];
    for (const l of [...lines.values()].sort((a, b) => a.id - b.id)) opts.push(h('option', { value: String(l.id) }, l.name));
    replace(lineSelect, opts);
    lineSelect.value = lines.has(Number(lineFilter)) ? lineFilter : '';
  }
  lineSelect.addEventListener('change', () => { lineFilter = lineSelect.value; renderList(); });

  function shown() {
    let cs = [...convs.values()];
    if (searchResults) cs = searchResults.map((id) => convs.get(id)).filter(Boolean);
    if (lineFilter) cs = cs.filter((c) => String(c.line_id) === lineFilter);
    return cs.sort((a, b) => (b.last_message_at || 0) - (a.last_message_at || 0) || b.id - a.id);
  }

  function previewText(m) {
    if (!m) return '';
    const kinds = { image: '📷 ' + t('msg.image'), video: '🎬 ' + t('msg.video'), document: '📄 ', voice: '🎤 ' + t('msg.voice'), audio: '🎵 ' + t('msg.audio'), sticker: t('msg.sticker') };
    if (m.kind === 'text') return m.text || (m.note ? t(`msg.note.${m.note}`) : '');
    if (m.kind === 'system') return t(m.note ? `msg.note.${m.note}` : 'msg.system');
    if (m.kind === 'document') return kinds.document + (m.media && m.media.file_name ? m.media.file_name : t('msg.document'));
    if (m.kind === 'location' || m.kind === 'contact') {
      const base = (m.kind === 'location' ? '📍 ' : '👤 ') + t(`msg.${m.kind}`);
      const first = (m.text || '').split('\n')[0];
      return first ? `${base}: ${first}` : base;
    }
    const base = kinds[m.kind] || m.kind;
    return m.text ? `${base}: ${m.text}` : base;
  }

  function renderList() {
    const cs = shown();
    const hadFocus = list.contains(document.activeElement);
    const line = (id) => lines.get(id);
    replace(list, cs.map((c) => {
      const name = contactName(c.contact);
      const hit = searchResults ? searchHits.get(c.id) : undefined;
      const m = hit || c.preview;
      const selected = c.id === active;
      const li = h('li', {
        class: 'conv' + (selected ? ' conv-active' : '') + (c.unread > 0 ? ' conv-unread' : ''),
        role: 'option', 'aria-selected': selected ? 'true' : 'false', tabindex: '-1',
        id: `conv-${c.id}`, 'data-test': 'conv', 'data-conv-id': c.id, 'data-phone': c.contact.phone || '',
        'data-unread': c.unread,
      },
      avatar(name, c.contact.jid),
      h('div', { class: 'conv-body' },
        h('div', { class: 'conv-row' },
          h('span', { class: 'conv-name', 'data-test': 'conv-name' }, name),
          h('span', { class: 'conv-time', 'data-test': 'conv-time' }, listTime(c.last_message_at))),
        h('div', { class: 'conv-row' },
          h('span', { class: 'conv-preview', 'data-test': 'conv-preview' },
            hit ? h('span', { class: 'conv-hit', 'data-test': 'search-hit' }, t('chats.found.message') + ': ') : null,
            m && m.direction === 'out' ? h('span', { class: `ticks ticks-${m.status}` }, ticks(m.status)) : null,
            previewText(m)),
          c.unread > 0 ? h('span', { class: 'unread-badge', 'data-test': 'unread', 'aria-label': `${c.unread}` }, c.unread > 99 ? '99+' : String(c.unread)) : null),
        lines.size > 1 && line(c.line_id) ? h('div', { class: 'conv-line' }, line(c.line_id).name) : null));
      li.addEventListener('click', () => open(c.id));
      return li;
    }));
    const opts = list.querySelectorAll('[role=option]');
    const target = list.querySelector(`[data-conv-id="${focusedId ?? active}"]`) || opts[0];
    if (target) target.tabIndex = 0;
    if (hadFocus && target) target.focus();
    if (lines.size === 0) listNote.textContent = t('chats.nolines');
    else if (cs.length === 0) listNote.textContent = searchResults ? t('chats.found.none') : t(crm ? 'crm.none' : 'chats.none');
    else listNote.textContent = '';
  }

  list.addEventListener('keydown', (e) => {
    const opts = [...list.querySelectorAll('[role=option]')];
    if (opts.length === 0) return;
    const i = Math.max(0, opts.indexOf(document.activeElement));
    let j = null;
    if (e.key === 'ArrowDown') j = Math.min(opts.length - 1, i + 1);
    else if (e.key === 'ArrowUp') j = Math.max(0, i - 1);
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = opts.length - 1;
    else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      open(Number(opts[i].dataset.convId));
      return;
    }
    if (j !== null) {
      e.preventDefault();
      for (const o of opts) o.tabIndex = -1;
      opts[j].tabIndex = 0;
      opts[j].focus();
      focusedId = Number(opts[j].dataset.convId);
    }
  });
  list.addEventListener('focusin', (e) => {
    const o = e.target.closest('[role=option]');
    if (o) focusedId = Number(o.dataset.convId);
  });

  let searchTimer = null;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 250);
  });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') {
      const first = list.querySelector('[role=option]');
      if (first) {
        e.preventDefault();
        first.tabIndex = 0;
        first.focus();
      }
    } else if (e.key === 'Escape') {
      search.value = '';
      runSearch();
    }
  });

  async function runSearch() {
    const q = search.value.trim();
    if (!q) {
      searchResults = null;
      searchHits.clear();
      renderList();
      return;
    }
    try {
      const r = await api('GET', `/api/conversations/search${query({ q, limit: 50 })}`);
      if (search.value.trim() !== q) return;
      const ids = [];
      searchHits.clear();
      for (const x of r.results) {
        if (!x.conversation) continue;
        if (!convs.has(x.conversation.id)) {
          convs.set(x.conversation.id, { ...x.conversation });
          loadPreview(x.conversation);
        }
        // A message hit shows the message; a conversation found twice is listed once.
        if (x.message && !searchHits.has(x.conversation.id)) searchHits.set(x.conversation.id, x.message);
        if (!ids.includes(x.conversation.id)) ids.push(x.conversation.id);
      }
      searchResults = ids;
    } catch (e) {
      ctx.toast(e.message, 'error');
      searchResults = [];
    }
    renderList();
  }

  // --- the thread ----------------------------------------------------------------------------

  function senderName(m) {
    if (m.direction === 'out') {
      const uid = Number(String(m.sender).split(':')[1]);
      if (ctx.isAdmin && uid && uid !== ctx.userId && ctx.users.has(uid)) return ctx.userName(uid);
      return t('msg.you');
    }
    const c = convs.get(m.conversation_id);
    return c ? contactName(c.contact) : m.sender;
  }

  /** Who wrote one of our messages outside this panel: the business phone, or an Open Line operator. */
  function outsideAuthor(m) {
    if (m.sender === 'phone') return t('msg.from.phone');
    const [who, id] = String(m.sender).split(':');
    if (who !== 'operator') return null;
    const uid = Number(id);
    return ctx.users.has(uid) ? t('msg.from.operator.named', { name: ctx.userName(uid) }) : t('msg.from.operator');
  }

  function quoteText(m) {
    if (!m) return t('msg.quoted.missing');
    return previewText(m) || t(`msg.${m.kind}`);
  }

  function closeThread() {
    active = null;
    threadToken++;
    messages = new Map();
    nodes = new Map();
    threadBox.hidden = true;
    emptyPane.hidden = false;
    renderList();
  }

  async function open(id) {
    const c = convs.get(id);
    if (!c) return;
    if (active !== id) {
      active = id;
      focusedId = id;
      const my = ++threadToken;
      messages = new Map();
      nodes = new Map();
      next = null;
      items.replaceChildren();
      composer.reset();
      emptyPane.hidden = true;
      threadBox.hidden = false;
      renderHead();
      replace(top, h('span', { class: 'spinner', 'aria-hidden': 'true' }));
      try {
        const page = await api('GET', `/api/conversations/${id}/messages${query({ limit: PAGE })}`);
        if (my !== threadToken) return;
        next = page.next;
        addMessages(page.messages, { silent: true });
        renderTop();
        scrollToBottom();
        // Fill the view: fetch older pages while there is no scrollbar yet.
        while (next !== null && scroller.scrollHeight <= scroller.clientHeight + 10 && my === threadToken) {
          await loadOlder();
        }
      } catch (e) {
        ctx.toast(e.message, 'error');
      }
    }
    markRead(id);
    renderList();
    composer.focus();
  }

  /** Whether the viewer owns a conversation's unread count (the server decides the same way). */
  function ownsCount(c) {
    const line = lines.get(c.line_id);
    if (!line) return false;
    return line.assigned_user === ctx.userId || (ctx.isAdmin && line.assigned_user === null);
  }

  async function markRead(id) {
    const c = convs.get(id);
    if (!c) return;
    const had = c.unread;
    // An administrator looking at an agent's chat leaves the agent's badge as it is.
    const mine = ownsCount(c);
    if (mine) {
      c.unread = 0;
      renderList();
    }
    try {
      const r = await api('POST', `/api/conversations/${id}/read`);
      const cur = convs.get(id);
      if (cur && r && typeof r.unread === 'number' && cur.unread !== r.unread) {
        cur.unread = r.unread;
        renderList();
      }
    } catch (e) {
      if (mine) {
        c.unread = had;
        renderList();
      }
    }
  }

  function renderHead() {
    const c = convs.get(active);
    if (!c) return;
    const name = contactName(c.contact);
    const line = lines.get(c.line_id);
    replace(head,
      avatar(name, c.contact.jid),
      h('div', { class: 'thread-title' },
        h('div', { class: 'thread-name', 'data-test': 'thread-name' }, name),
        h('div', { class: 'thread-sub' }, [c.contact.phone ? phone(c.contact.phone) : c.contact.jid, line ? line.name : null].filter(Boolean).join(' · '))),
      lineBadge(line));
    composer.setOffline(!line || line.state !== 'connected');
    renderCold();
  }

  function lineBadge(line) {
    const st = line ? line.state || line.status : null;
    if (!st || st === 'connected') return null;
    return h('span', { class: 'badge-state state-warn', 'data-test': 'thread-line-state', 'data-state': st }, h('span', { class: 'dot' }), t(`state.${st}`));
  }

  function renderTop() {
    if (loadingOlder) replace(top, h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { class: 'sr-only' }, t('thread.older')));
    else if (next === null) replace(top, h('span', { class: 'thread-start', 'data-test': 'thread-start' }, t('thread.start')));
    else top.replaceChildren();
  }

  async function loadOlder() {
    if (loadingOlder || next === null || active === null) return;
    loadingOlder = true;
    renderTop();
    const my = threadToken;
    const id = active;
    try {
      const page = await api('GET', `/api/conversations/${id}/messages${query({ before: next, limit: PAGE })}`);
      if (my !== threadToken) return;
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      next = page.next;
      addMessages(page.messages, { silent: true });
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
    } catch (e) {
      ctx.toast(e.message, 'error');
    } finally {
      loadingOlder = false;
      if (my === threadToken) renderTop();
    }
  }
  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 150) loadOlder();
  });

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  /** Merges messages into the open thread (same conversation only) and redraws. */
  function addMessages(ms, { silent = false } = {}) {
    let changed = false;
    for (const m of ms) {
      if (m.conversation_id !== active) continue;
      best(m);
      const old = messages.get(m.id);
      if (old && STATUS_RANK[old.status] > STATUS_RANK[m.status]) m.status = old.status;
      if (old && old.failed) m.failed = true;
      messages.set(m.id, m);
      changed = true;
    }
    if (changed) {
      renderThread(silent);
      renderCold();
    }
  }

  function reactionsFor() {
    // target id -> Map(sender -> {emoji, id})
    const map = new Map();
    const rs = [...messages.values()].filter((m) => m.kind === 'reaction' && m.quoted_id !== null).sort((a, b) => a.id - b.id);
    for (const r of rs) {
      if (!map.has(r.quoted_id)) map.set(r.quoted_id, new Map());
      const who = r.direction === 'out' ? 'me' : r.sender;
      if (r.text) map.get(r.quoted_id).set(who, { emoji: r.text, id: r.id, status: r.status });
      else map.get(r.quoted_id).delete(who);
    }
    return map;
  }

  function renderThread() {
    const stick = nearBottom();
    const reactions = reactionsFor();
    const sorted = [...messages.values()].filter((m) => m.kind !== 'reaction').sort((a, b) => a.id - b.id);
    const out = [];
    let lastDay = null;
    for (const m of sorted) {
      const day = new Date(m.at).toDateString();
      if (day !== lastDay) {
        out.push(h('div', { class: 'day-sep', role: 'separator' }, h('span', {}, dayLabel(m.at))));
        lastDay = day;
      }
      const rs = reactions.get(m.id);
      const quotedMsg = m.quoted_id !== null ? messages.get(m.quoted_id) : null;
      const sig = JSON.stringify([m.status, m.failed, rs ? [...rs.values()].map((x) => x.emoji) : null, quotedMsg ? quotedMsg.id : null]);
      let node = nodes.get(m.id);
      if (!node || node.dataset.sig !== sig) {
        const fresh = renderMessage(m, rs, quotedMsg);
        // New ticks or a reaction must not stop a voice note that is playing: keep its player.
        const player = node && node.querySelector('[data-test=msg-voice]');
        const slot = player && fresh.querySelector('[data-test=msg-voice]');
        if (slot) slot.replaceWith(player);
        node = fresh;
        node.dataset.sig = sig;
        nodes.set(m.id, node);
      }
      out.push(node);
    }
    items.replaceChildren(...out);
    if (stick) scrollToBottom();
  }

  function renderMessage(m, rs, quotedMsg) {
    if (m.kind === 'system') {
      return h('div', { class: 'msg msg-system', 'data-test': 'msg-system', 'data-id': m.id, 'data-note': m.note || '', role: 'note' },
        h('span', { class: 'msg-system-text' }, t(m.note ? `msg.note.${m.note}` : 'msg.system')),
        h('time', { datetime: new Date(m.at).toISOString() }, clock(m.at)));
    }
    const mine = m.direction === 'out';
    const bubble = h('div', { class: 'bubble' });
    const author = mine ? outsideAuthor(m) : null;
    if (author) {
      // An Open Line operator we know: their avatar beside the name.
      const [who, id] = String(m.sender).split(':');
      const uid = Number(id);
      const face = who === 'operator' && ctx.users.has(uid) ? userAvatar(ctx.users.get(uid), uid) : null;
      bubble.append(h('div', { class: 'msg-author', 'data-test': 'msg-author' }, face, author));
    }
    if (m.quoted_id !== null) {
      const q = h('button', { class: 'quote', type: 'button', 'data-test': 'quote', 'data-quoted-id': m.quoted_id, 'aria-label': `${t('msg.reply')}: ${quoteText(quotedMsg)}`, onclick: () => {
        const target = nodes.get(m.quoted_id);
        if (target) {
          target.scrollIntoView({ block: 'center', behavior: 'smooth' });
          target.classList.add('flash');
          setTimeout(() => target.classList.remove('flash'), 1200);
        }
      } },
      h('span', { class: 'quote-who' }, quotedMsg ? senderName(quotedMsg) : ''),
      h('span', { class: 'quote-text' }, quoteText(quotedMsg)));
      bubble.append(q);
    }
    const media = renderMedia(m);
    if (media) bubble.append(media);
    const shared = renderShared(m);
    if (shared) bubble.append(shared);
    else if (m.text && m.kind !== 'document') bubble.append(h('div', { class: 'msg-text', 'data-test': 'msg-text', dir: 'auto' }, m.text));
    else if (m.text) bubble.append(h('div', { class: 'msg-text msg-caption', 'data-test': 'msg-text', dir: 'auto' }, m.text));
    if (m.note) bubble.append(h('div', { class: 'msg-note', 'data-test': 'msg-note', 'data-note': m.note }, t(`msg.note.${m.note}`)));
    const meta = h('span', { class: 'msg-meta' }, h('time', { datetime: new Date(m.at).toISOString() }, clock(m.at)));
    if (mine) {
      const st = m.failed ? 'failed' : m.status;
      meta.append(h('span', { class: `ticks ticks-${st}`, 'data-test': 'ticks', 'data-status': st, role: 'img', 'aria-label': m.failed ? t('msg.failed') : t(`status.${m.status}`), title: m.failed ? t('msg.failed') : t(`status.${m.status}`) }, ticks(st)));
    }
    bubble.append(meta);
    const actions = h('div', { class: 'msg-actions' },
      h('button', { class: 'btn btn-icon btn-small', type: 'button', 'aria-label': t('msg.reply'), title: t('msg.reply'), 'data-test': 'reply', onclick: () => composer.setQuote(m) }, icon('reply')),
      h('button', { class: 'btn btn-icon btn-small', type: 'button', 'aria-label': t('msg.react'), title: t('msg.react'), 'aria-haspopup': 'true', 'data-test': 'react', onclick: (e) => reactionPicker(m, e.currentTarget) }, icon('smile')));
    const row = h('div', {
      class: `msg ${mine ? 'msg-out' : 'msg-in'}`, 'data-test': 'msg', 'data-id': m.id, 'data-direction': m.direction,
      'data-kind': m.kind, 'data-status': m.status, tabindex: '-1',
    }, bubble, actions);
    if (rs && rs.size) {
      const counts = new Map();
      for (const { emoji } of rs.values()) counts.set(emoji, (counts.get(emoji) || 0) + 1);
      bubble.append(h('div', { class: 'reactions', 'data-test': 'reactions' },
        [...counts].map(([emoji, n]) => h('span', { class: 'reaction', 'data-emoji': emoji }, emoji, n > 1 ? h('span', { class: 'reaction-n' }, String(n)) : null))));
      row.classList.add('has-reactions');
    }
    return row;
  }

  // A place or contact cards, from the text the server composed for them: a place's last line
  // is `lat, lon`; cards are separated by an empty line, each a name then one number a line.
  function renderShared(m) {
    if (m.kind === 'location') {
      const lines = (m.text || '').split('\n').filter(Boolean);
      const at = /^(-?\d{1,3}\.\d+), (-?\d{1,3}\.\d+)$/.exec(lines[lines.length - 1] || '');
      const place = at ? lines.slice(0, -1) : lines;
      const label = place.length ? place : [t('msg.location')];
      const body = [h('span', { class: 'location-pin', 'aria-hidden': 'true' }, '📍'),
        h('span', { class: 'location-text', dir: 'auto' }, label.map((l) => h('span', { class: 'location-line' }, l)))];
      if (!at) return h('div', { class: 'location', 'data-test': 'msg-location' }, body);
      const href = `https://www.openstreetmap.org/?mlat=${at[1]}&mlon=${at[2]}`;
      return h('a', { class: 'location', href, target: '_blank', rel: 'noopener noreferrer', 'data-test': 'msg-location', title: t('msg.location.open') },
        body, h('span', { class: 'location-coords' }, `${at[1]}, ${at[2]}`));
    }
    if (m.kind === 'contact') {
      const phone = /^[+\d][\d\s()-]*$/;
      const cards = (m.text || '').split('\n\n').map((c) => c.split('\n').filter(Boolean)).filter((c) => c.length);
      if (!cards.length) cards.push([]);
      return h('div', { class: 'contacts', 'data-test': 'msg-contacts' }, cards.map((lines) => {
        const named = lines.length && !phone.test(lines[0]);
        const name = named ? lines[0] : t('msg.contact');
        const numbers = named ? lines.slice(1) : lines;
        return h('div', { class: 'contact-card', 'data-test': 'msg-contact' },
          h('span', { class: 'contact-name', dir: 'auto' }, '👤 ', name),
          numbers.map((n) => h('a', { class: 'contact-phone', href: `tel:${n.replace(/[^\d+]/g, '')}`, 'data-test': 'contact-phone' }, n)));
      }));
    }
    return null;
  }

  function renderMedia(m) {
    if (!m.media) {
      if (['image', 'video', 'document', 'voice', 'audio', 'sticker'].includes(m.kind)) {
        return h('div', { class: 'media-missing' }, icon('file'), t(`msg.${m.kind}`));
      }
      return null;
    }
    const url = withToken(m.media.url);
    switch (m.kind) {
      case 'image':
      case 'sticker':
        return h('a', { class: 'media-link', href: url, target: '_blank', rel: 'noopener' },
          h('img', { class: m.kind === 'sticker' ? 'media-sticker' : 'media-img', src: url, alt: m.text || t('msg.image'), loading: 'lazy', 'data-test': 'msg-image' }));
      case 'video':
        return h('video', { class: 'media-video', src: url, controls: true, preload: 'metadata', 'data-test': 'msg-video' });
      case 'voice':
      case 'audio':
        return voicePlayer(m, url);
      default:
        return h('a', { class: 'doc', href: url, download: m.media.file_name || '', 'data-test': 'msg-document', 'aria-label': `${t('msg.download')}: ${m.media.file_name || t('msg.document')}` },
          h('span', { class: 'doc-icon' }, icon('file'), h('span', { class: 'doc-ext' }, ext(m.media.file_name, m.media.mime))),
          h('span', { class: 'doc-text' },
            h('span', { class: 'doc-name', 'data-test': 'doc-name' }, m.media.file_name || t('msg.document')),
            h('span', { class: 'doc-size', 'data-test': 'doc-size' }, fileSize(m.media.size))),
          icon('download', 'doc-download'));
    }
  }

  function ext(name, mime) {
    const e = name && name.includes('.') ? name.split('.').pop() : (mime || '').split('/').pop();
    return (e || '').slice(0, 4).toUpperCase();
  }

  function voicePlayer(m, url) {
    const audio = h('audio', { preload: 'metadata', src: url });
    const btn = h('button', { class: 'btn btn-icon voice-play', type: 'button', 'aria-label': t('voice.play'), 'data-test': 'voice-play' }, icon('play'));
    const fill = h('span', { class: 'progress-fill' });
    const bar = h('span', { class: 'voice-bar progress', role: 'slider', tabindex: '0', 'aria-label': t('msg.voice'), 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', 'data-test': 'voice-progress' }, fill);
    const time = h('span', { class: 'voice-time', 'data-test': 'voice-time' }, '0:00');
    const box = h('div', { class: 'voice', 'data-test': 'msg-voice' }, btn, bar, time, audio);
    const total = () => (Number.isFinite(audio.duration) ? audio.duration : 0);
    const update = () => {
      const d = total();
      const p = d ? (100 * audio.currentTime) / d : 0;
      fill.style.width = `${p}%`;
      bar.setAttribute('aria-valuenow', String(Math.round(p)));
      time.textContent = audio.currentTime > 0 ? duration(audio.currentTime) : duration(d);
      box.dataset.playing = audio.paused ? '0' : '1';
    };
    audio.addEventListener('loadedmetadata', () => {
      // Ogg/WebM recordings often report Infinity until read through; seek far to learn it.
      if (!Number.isFinite(audio.duration)) {
        audio.currentTime = 1e7;
        audio.addEventListener('timeupdate', function once() {
          audio.removeEventListener('timeupdate', once);
          audio.currentTime = 0;
          update();
        });
      }
      update();
    });
    audio.addEventListener('timeupdate', update);
    audio.addEventListener('durationchange', update);
    audio.addEventListener('play', () => { replace(btn, icon('pause')); btn.setAttribute('aria-label', t('voice.pause')); update(); });
    audio.addEventListener('pause', () => { replace(btn, icon('play')); btn.setAttribute('aria-label', t('voice.play')); update(); });
    audio.addEventListener('ended', () => { audio.currentTime = 0; update(); });
    btn.addEventListener('click', () => {
      if (audio.paused) {
        for (const other of items.querySelectorAll('audio')) if (other !== audio) other.pause();
        audio.play().catch((e) => ctx.toast(e.message, 'error'));
      } else audio.pause();
    });
    const seek = (f) => { if (total()) audio.currentTime = Math.max(0, Math.min(1, f)) * total(); };
    bar.addEventListener('click', (e) => {
      const r = bar.getBoundingClientRect();
      seek((e.clientX - r.left) / r.width);
    });
    bar.addEventListener('keydown', (e) => {
      if (!total()) return;
      if (e.key === 'ArrowRight') { e.preventDefault(); audio.currentTime = Math.min(total(), audio.currentTime + 2); }
      if (e.key === 'ArrowLeft') { e.preventDefault(); audio.currentTime = Math.max(0, audio.currentTime - 2); }
    });
    return box;
  }

  let picker = null;
  function closePicker() {
    if (picker) {
      picker.remove();
      picker = null;
    }
  }
  function reactionPicker(m, anchor) {
    closePicker();
    const mine = reactionsFor().get(m.id)?.get('me');
    picker = h('div', { class: 'reaction-picker', role: 'menu', 'data-test': 'reaction-picker' },
      REACTIONS.map((emoji) => h('button', {
        class: 'reaction-choice' + (mine && mine.emoji === emoji ? ' chosen' : ''), type: 'button', role: 'menuitem', 'aria-label': emoji,
        'data-emoji': emoji, onclick: () => { closePicker(); react(m, mine && mine.emoji === emoji ? '' : emoji); anchor.focus(); },
      }, emoji)));
    picker.addEventListener('keydown', (e) => {
      const bs = [...picker.querySelectorAll('button')];
      const i = bs.indexOf(document.activeElement);
      if (e.key === 'Escape') { e.preventDefault(); closePicker(); anchor.focus(); }
      if (e.key === 'ArrowRight') { e.preventDefault(); bs[(i + 1) % bs.length].focus(); }
      if (e.key === 'ArrowLeft') { e.preventDefault(); bs[(i + bs.length - 1) % bs.length].focus(); }
    });
    anchor.closest('.msg').append(picker);
    picker.querySelector('button').focus();
  }
  document.addEventListener('click', (e) => {
    if (picker && !picker.contains(e.target) && !e.target.closest('[data-test=react]')) closePicker();
  });

  async function react(m, emoji) {
    try {
      const r = await api('POST', `/api/conversations/${m.conversation_id}/reactions`, { message_id: m.id, emoji, idempotency_key: newKey() });
      addMessages([r]);
    } catch (e) {
      ctx.toast(t('error.generic', { error: e.message }), 'error');
    }
  }

  function updatePreviewFrom(m) {
    const c = convs.get(m.conversation_id);
    if (!c || m.kind === 'reaction') return;
    best(m);
    if (!c.preview || c.preview.id <= m.id) {
      c.preview = m;
      c.last_message_id = Math.max(c.last_message_id || 0, m.id);
      c.previewId = c.last_message_id;
      c.last_message_at = Math.max(c.last_message_at || 0, m.at);
    }
    renderList();
  }

  // --- live ----------------------------------------------------------------------------------

  async function onStored(p) {
    if (!p) return;
    let c = convs.get(p.conversation_id);
    if (!c) {
      try {
        c = await api('GET', `/api/conversations/${p.conversation_id}`);
        if (crm && !ofCard(crm, c)) return;
        convs.set(c.id, c);
        if (!lines.has(c.line_id)) {
          loadAll().catch(() => {});
          return;
        }
      } catch {
        return;
      }
    }
    if (typeof p.unread === 'number' && p.direction === 'in') c.unread = p.unread;
    // The event carries the message: append it. Only an event without one (an older server)
    // costs a read of the newest page; gaps (a reconnect, `resync`) reload in `reload` below.
    let fresh;
    if (p.message) {
      fresh = [p.message];
    } else {
      try {
        fresh = (await api('GET', `/api/conversations/${p.conversation_id}/messages${query({ limit: 10 })}`)).messages;
      } catch {
        return; /* shown at the next resync */
      }
    }
    const cur = convs.get(p.conversation_id);
    if (!cur) return;
    for (const m of fresh) {
      cur.last_message_id = Math.max(cur.last_message_id || 0, m.id);
      cur.last_message_at = Math.max(cur.last_message_at || 0, m.at);
    }
    const newest = fresh.filter((x) => x.kind !== 'reaction').sort((a, b) => b.id - a.id)[0];
    if (newest && (!cur.preview || cur.preview.id <= newest.id)) { cur.preview = best(newest); cur.previewId = cur.last_message_id; }
    if (active === p.conversation_id) {
      addMessages(fresh);
      if (p.direction === 'in' && visible && document.visibilityState === 'visible') markRead(p.conversation_id);
    }
    renderList();
  }

  function onStatus(p) {
    if (!p) return;
    // The message after the change, when the event carries it: same as a fresh read.
    if (p.message && p.message.id === p.message_id && messages.has(p.message_id)) addMessages([p.message]);
    const prev = statusSeen.get(p.message_id);
    if (!prev || STATUS_RANK[p.status] > STATUS_RANK[prev]) statusSeen.set(p.message_id, p.status);
    if (statusSeen.size > 5000) statusSeen.delete(statusSeen.keys().next().value);
    const m = messages.get(p.message_id);
    if (m && STATUS_RANK[p.status] > STATUS_RANK[m.status]) {
      m.status = p.status;
      renderThread();
    }
    for (const c of convs.values()) {
      if (c.preview && c.preview.id === p.message_id && STATUS_RANK[p.status] > STATUS_RANK[c.preview.status]) {
        c.preview = { ...c.preview, status: p.status };
        renderList();
      }
    }
  }

  ctx.stream.on('message.stored', onStored);
  ctx.stream.on('message.status', onStatus);
  ctx.stream.on('message.send_failed', (p) => {
    const m = p && messages.get(p.message_id);
    if (m) {
      m.failed = true;
      renderThread();
    }
  });
  ctx.stream.on('conversation.read', (p) => {
    const c = p && convs.get(p.conversation_id);
    if (c) {
      c.unread = 0;
      renderList();
    }
  });
  ctx.stream.on('line.status', (p) => {
    const l = p && lines.get(p.line_id);
    if (l) {
      l.state = p.state;
      if (active !== null && convs.get(active)?.line_id === p.line_id) renderHead();
    }
  });
  // A line taken away from this user (reassigned, unassigned, deleted): its chats go at once.
  ctx.stream.on('line.unassigned', (p) => {
    const line = p && lines.get(p.line_id);
    if (!line) return;
    lines.delete(p.line_id);
    for (const [id, c] of [...convs]) if (c.line_id === p.line_id) convs.delete(id);
    if (searchResults) searchResults = searchResults.filter((id) => convs.has(id));
    if (active !== null && !convs.has(active)) closeThread();
    renderLineFilter();
    renderList();
    ctx.toast(t('chats.line.removed', { name: line.name }));
  });
  ctx.stream.on('line.updated', (p) => {
    const old = p && p.line && lines.get(p.line.id);
    if (old) lines.set(p.line.id, { ...old, ...p.line, state: old.state });
  });
  const reload = () => loadAll().then(() => {
    if (active !== null && convs.has(active)) {
      api('GET', `/api/conversations/${active}/messages${query({ limit: PAGE })}`).then((page) => addMessages(page.messages), () => {});
      // What arrived while the stream was away is on screen now: it counts as read.
      if (convs.get(active).unread > 0 && visible && document.visibilityState === 'visible') markRead(active);
    }
  }).catch(() => {});
  // A conversation opened by number elsewhere (another panel, a colleague): listed at once.
  ctx.stream.on('conversation.opened', (p) => {
    if (p && lines.has(p.line_id) && !convs.has(p.conversation_id)) reload();
  });
  for (const ev of ['line.assigned', 'line.created', 'line.deleted', 'resync']) ctx.stream.on(ev, reload);

  let loadedOnce = false;
  return {
    el,
    async show() {
      visible = true;
      if (!loadedOnce) {
        loadedOnce = true;
        try {
          await loadAll();
        } catch (e) {
          ctx.toast(e.message, 'error');
        }
        // The frame named a conversation (a CRM timeline's link): open it if the viewer may see
        // it (it is in the list), else the list stays as it is.
        const named = ctx.session && ctx.session.conversation_id;
        if (Number.isInteger(named) && named > 0 && convs.has(named)) await open(named);
      }
      if (active !== null) markRead(active);
    },
    hide() {
      visible = false;
      closePicker();
    },
    onPlan(s) {
      composer.setReadOnly(!!s.read_only);
    },
  };
}
