// Connections (administrators): the lines with their live status, creating a line within the
// plan's quota, pairing by QR code (with a countdown; new codes come over SSE until the phone
// scans), disconnect, log out, delete, assigning each line to a portal user, and where its
// conversations go (this panel, a Bitrix24 Open Channel, or both; an Open Line chosen from the
// portal's or created here).

import { api, ApiError } from './api.js';
import { t } from './i18n.js';
import { h, replace, phone, dateTime, userAvatar } from './format.js';
import { icon } from './icons.js';
import { crmPolicy } from './crm.js';

/** The state a line shows: the live one while it runs, else the stored status. */
export function lineState(line) {
  return line.state || line.status || 'new';
}

const STATE_CLASS = {
  connected: 'ok', qr: 'warn', pairing: 'warn', connecting: 'warn', reconnecting: 'warn',
  new: 'muted', disconnected: 'muted', logged_out: 'bad',
};

/** A status badge for a line. */
export function stateBadge(line) {
  const s = lineState(line);
  return h('span', { class: `badge-state state-${STATE_CLASS[s] || 'muted'}`, 'data-test': 'line-status', 'data-state': s },
    h('span', { class: 'dot' }), t(`state.${s}`));
}

export function createConnections(ctx) {
  const lines = new Map();
  let loaded = false;
  let qr = null; // { lineId, state, expiresAt, timer, node }
  const lastStatus = new Map(); // line id -> { st, at }: the newest state heard of
  let openLines = null; // the portal's Open Lines once loaded: [{ id, name, active, line_id }]
  let openLinesError = '';
  const drafts = new Map(); // line id -> the name of the Open Line being created for it
  const updatedAt = new Map(); // line id -> when its last line.updated arrived

  const quota = h('div', { class: 'quota', 'data-test': 'quota' });
  const nameInput = h('input', { class: 'input', type: 'text', maxlength: '80', 'aria-label': t('lines.name'), placeholder: t('lines.name'), 'data-test': 'line-name' });
  const createBtn = h('button', { class: 'btn btn-primary', type: 'submit', 'data-test': 'create-line' }, icon('plus'), t('lines.create'));
  const quotaMsg = h('p', { class: 'note note-warn', 'data-test': 'quota-message', hidden: true, role: 'note' });
  const createError = h('p', { class: 'note note-error', 'data-test': 'create-error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'create-line', onsubmit: (e) => { e.preventDefault(); createLine(); } }, nameInput, createBtn);
  const list = h('div', { class: 'line-list', 'data-test': 'lines', role: 'list' });
  const dialogHost = h('div');
  const access = h('div', { class: 'card access-card', 'data-test': 'access' });
  const el = h('div', { class: 'page connections' },
    h('div', { class: 'page-head' },
      h('h1', {}, t('lines.title')), quota),
    h('div', { class: 'card create-card' }, form, quotaMsg, createError),
    list, access, dialogHost);

  function renderQuota() {
    const s = ctx.subscription;
    if (!s) return;
    const full = s.lines_used >= s.lines_allowed;
    replace(quota,
      h('span', { class: 'quota-text', 'data-test': 'quota-count' }, t('plan.lines', { used: s.lines_used, allowed: s.lines_allowed })),
      h('span', { class: 'quota-bar', 'aria-hidden': 'true' }, quotaFill(s)));
    createBtn.disabled = full || s.read_only;
    nameInput.disabled = full || s.read_only;
    if (s.read_only) {
      quotaMsg.hidden = false;
      quotaMsg.textContent = t('lines.readonly');
    } else if (full) {
      quotaMsg.hidden = false;
      quotaMsg.textContent = t('lines.quota.full', { plan: s.plan, allowed: s.lines_allowed });
    } else {
      quotaMsg.hidden = true;
    }
    if (!nameInput.value || nameInput.dataset.auto === '1') {
      nameInput.value = t('lines.name.default', { n: Math.max(s.lines_used, lines.size) + 1 });
      nameInput.dataset.auto = '1';
    }
  }
  nameInput.addEventListener('input', () => { nameInput.dataset.auto = '0'; });

  function quotaFill(s) {
    const f = h('span', { class: 'quota-fill' });
    f.style.width = `${Math.min(100, (100 * s.lines_used) / Math.max(1, s.lines_allowed))}%`;
    return f;
  }

  async function createLine() {
    createError.hidden = true;
    const name = nameInput.value.trim() || t('lines.name.default', { n: lines.size + 1 });
    createBtn.disabled = true;
    try {
      const line = await api('POST', '/api/lines', { name });
      lines.set(line.id, line);
      nameInput.value = '';
      nameInput.dataset.auto = '1';
      render();
      await ctx.loadSubscription();
      await connect(line.id);
    } catch (e) {
      createError.hidden = false;
      createError.textContent = e.message;
      await ctx.loadSubscription();
    } finally {
      renderQuota();
    }
  }

  async function load() {
    const r = await api('GET', '/api/lines');
    lines.clear();
    for (const l of r.lines) lines.set(l.id, l);
    loaded = true;
    render();
    await loadOpenLines();
  }

  /** The portal's Open Lines (Bitrix24 may refuse: the cards then say why). */
  async function loadOpenLines() {
    try {
      openLines = (await api('GET', '/api/open-lines')).open_lines;
      openLinesError = '';
    } catch (e) {
      openLines = null;
      openLinesError = e.message;
    }
    render();
  }

  function render() {
    if (lines.size === 0) {
      replace(list, h('div', { class: 'card empty', 'data-test': 'no-lines' }, icon('qr', 'empty-icon'), h('p', {}, t('lines.none'))));
      return;
    }
    const sorted = [...lines.values()].sort((a, b) => a.id - b.id);
    replace(list, sorted.map(card));
  }

  function userOptions(selected) {
    const opts = [h('option', { value: '' }, t('line.unassigned'))];
    const users = [...ctx.users.values()].sort((a, b) => a.id - b.id);
    if (selected !== null && selected !== undefined && !ctx.users.has(selected)) {
      opts.push(h('option', { value: String(selected) }, `#${selected}`));
    }
    for (const u of users) {
      opts.push(h('option', { value: String(u.id) }, u.is_admin ? `${u.name} (admin)` : u.name));
    }
    const sel = h('select', { class: 'select', 'data-test': 'assign' }, opts);
    sel.value = selected === null || selected === undefined ? '' : String(selected);
    return sel;
  }

  function departmentOptions(selected) {
    const opts = [h('option', { value: '' }, t('line.department.none'))];
    const deps = [...ctx.departments.values()].sort((a, b) => a.id - b.id);
    if (selected !== null && selected !== undefined && !ctx.departments.has(selected)) {
      opts.push(h('option', { value: String(selected) }, `#${selected}`));
    }
    for (const d of deps) opts.push(h('option', { value: String(d.id) }, d.name));
    const sel = h('select', { class: 'select', 'data-test': 'assign-department' }, opts);
    sel.value = selected === null || selected === undefined ? '' : String(selected);
    return sel;
  }

  /** Who may use the app at all: users and departments (empty: everyone; admins always). */
  function loadAccess() {
    const box = access;
    const draw = (access) => {
      const pick = (kind, items, chosen) => {
        const sel = h('select', { class: 'select', multiple: true, size: '5', id: `access-${kind}`, 'data-test': `access-${kind}` },
          items.map((x) => h('option', { value: String(x.id), selected: chosen.includes(x.id) }, x.name)));
        return h('label', { class: 'field', for: sel.id }, h('span', { class: 'field-label' }, t(`access.${kind}`)), sel);
      };
      const users = pick('users', [...ctx.users.values()].filter((u) => u.active !== false), access.users);
      const deps = pick('departments', [...ctx.departments.values()], access.departments);
      const chosen = (label) => [...label.querySelector('select').selectedOptions].map((o) => Number(o.value));
      // The chosen users, each with their avatar, kept in step with the list.
      const chips = h('div', { class: 'user-chips', 'data-test': 'access-user-chips' });
      const drawChips = () => replace(chips, chosen(users).map((id) => h('span', { class: 'user-chip' },
        userAvatar(ctx.users.get(id), id), h('span', {}, ctx.userName(id)))));
      users.querySelector('select').addEventListener('change', drawChips);
      users.append(chips);
      drawChips();
      const save = h('button', { class: 'btn btn-primary', type: 'button', 'data-test': 'access-save', onclick: async () => {
        try {
          const out = await api('PUT', '/api/access', { users: chosen(users), departments: chosen(deps) });
          ctx.toast(t(out.users.length + out.departments.length === 0 ? 'access.saved.everyone' : 'access.saved'));
          draw(out);
        } catch (e) {
          ctx.toast(e.message, 'error');
        }
      } }, t('access.save'));
      replace(box, h('h2', {}, t('access.title')), h('p', { class: 'access-help' }, t('access.help')),
        h('div', { class: 'line-controls' }, users, deps, save));
    };
    return api('GET', '/api/access').then(draw).catch((e) => replace(box, h('p', { class: 'note note-error' }, e.message)));
  }

  async function patch(line, body, done) {
    try {
      const out = await api('PATCH', `/api/lines/${line.id}`, body);
      lines.set(line.id, { ...line, ...out, state: line.state });
      ctx.toast(t(done, { name: line.name }));
    } catch (e) {
      ctx.toast(e.message, 'error');
    }
    render();
  }

  function card(line) {
    const s = lineState(line);
    const running = ['connected', 'qr', 'connecting', 'reconnecting', 'pairing'].includes(s) && line.state !== null;
    const select = userOptions(line.assigned_user);
    select.id = `assign-${line.id}`;
    select.addEventListener('change', () => assign(line, select.value === '' ? null : Number(select.value)));
    const receipts = h('input', { type: 'checkbox', id: `receipts-${line.id}`, 'data-test': 'read-receipts', checked: line.send_read_receipts !== false });
    receipts.addEventListener('change', () => setReceipts(line, receipts.checked));
    const department = departmentOptions(line.assigned_department);
    department.id = `department-${line.id}`;
    department.addEventListener('change', () => patch(line, { assigned_department: department.value === '' ? null : Number(department.value) }, 'line.department.ok'));
    const mode = h('select', { class: 'select', id: `responsible-${line.id}`, 'data-test': 'responsible-mode', title: t('line.responsible.help') },
      ['first_to_answer', 'evenly'].map((m) => h('option', { value: m }, t(`line.responsible.${m}`))));
    mode.value = line.responsible_mode || 'first_to_answer';
    mode.addEventListener('change', () => patch(line, { responsible_mode: mode.value }, 'line.responsible.ok'));
    const buttons = [];
    if (s === 'qr') {
      buttons.push(h('button', { class: 'btn btn-primary', type: 'button', 'data-test': 'show-qr', onclick: () => connect(line.id) }, icon('qr'), t('line.show_qr')));
    } else if (!running) {
      buttons.push(h('button', { class: 'btn btn-primary', type: 'button', 'data-test': 'connect', onclick: () => connect(line.id) }, icon('power'), t('line.connect')));
    }
    if (running) {
      buttons.push(h('button', { class: 'btn', type: 'button', 'data-test': 'disconnect', onclick: () => act(line, 'disconnect') }, icon('power'), t('line.disconnect')));
    }
    if (running && s === 'connected') {
      buttons.push(h('button', { class: 'btn', type: 'button', 'data-test': 'logout', onclick: () => {
        if (confirm(t('line.logout.confirm', { name: line.name }))) act(line, 'logout');
      } }, icon('logout'), t('line.logout')));
    }
    buttons.push(h('button', { class: 'btn btn-icon btn-danger', type: 'button', 'aria-label': `${t('line.delete')}: ${line.name}`, title: t('line.delete'), 'data-test': 'delete', onclick: () => {
      if (confirm(t('line.delete.confirm', { name: line.name }))) remove(line);
    } }, icon('trash')));
    return h('div', { class: 'card line-card', role: 'listitem', 'data-test': 'line', 'data-line-id': line.id, 'data-state': s },
      h('div', { class: 'line-main' },
        h('div', { class: 'line-icon' }, icon('whatsapp')),
        h('div', { class: 'line-text' },
          h('div', { class: 'line-name' }, line.name),
          h('div', { class: 'line-phone' }, line.phone ? phone(line.phone) : t('line.phone.none'))),
        stateBadge(line)),
      h('div', { class: 'line-controls' },
        h('label', { class: 'field', for: select.id }, h('span', { class: 'field-label' }, t('line.assigned')),
          h('span', { class: 'field-with-avatar', 'data-test': 'assigned-avatar' },
            line.assigned_user === null || line.assigned_user === undefined ? null : userAvatar(ctx.users.get(line.assigned_user), line.assigned_user),
            select)),
        h('label', { class: 'field', for: department.id, title: t('line.department.help') }, h('span', { class: 'field-label' }, t('line.department')), department),
        h('label', { class: 'field', for: mode.id }, h('span', { class: 'field-label' }, t('line.responsible')), mode),
        h('label', { class: 'check', for: receipts.id, title: t('line.receipts.help') }, receipts, h('span', {}, t('line.receipts'))),
        h('div', { class: 'line-buttons' }, buttons)),
      openChannel(line),
      crmPolicy(line, ctx),
      h('div', { class: 'line-meta' }, `#${line.id} · ${dateTime(line.created_at)}`));
  }

  // --- Bitrix24 Open Channels ------------------------------------------------------------------

  const NEW_OPEN_LINE = 'new';

  /** Where the line's conversations go, and to which Open Line (or a new one, named here). */
  function openChannel(line) {
    const channel = h('select', { class: 'select', id: `channel-${line.id}`, 'data-test': 'open-channel' },
      ['panel', 'openline', 'both'].map((c) => h('option', { value: c }, t(`openline.channel.${c}`))));
    channel.value = line.open_channel || 'panel';
    const choices = [h('option', { value: '' }, t('openline.line.none'))];
    const known = new Set();
    for (const ol of openLines || []) {
      known.add(ol.id);
      const other = ol.line_id !== null && ol.line_id !== undefined && ol.line_id !== line.id ? lines.get(ol.line_id) : null;
      const label = other ? t('openline.line.taken', { name: ol.name, line: other.name }) : ol.name;
      choices.push(h('option', { value: String(ol.id), disabled: !!other }, `${label} · #${ol.id}`));
    }
    if (line.open_line_id && !known.has(line.open_line_id)) {
      choices.push(h('option', { value: String(line.open_line_id) }, `#${line.open_line_id}`));
    }
    if (openLines) choices.push(h('option', { value: NEW_OPEN_LINE }, t('openline.line.new')));
    const openLine = h('select', { class: 'select', id: `openline-${line.id}`, 'data-test': 'open-line', disabled: !openLines && !line.open_line_id }, choices);
    openLine.value = drafts.has(line.id) ? NEW_OPEN_LINE : line.open_line_id ? String(line.open_line_id) : '';
    const hint = h('p', { class: 'note note-warn', 'data-test': 'open-line-hint', hidden: true, role: 'note' });
    const chosenId = () => (openLine.value === '' || openLine.value === NEW_OPEN_LINE ? null : Number(openLine.value));
    const save = async () => {
      hint.hidden = true;
      if (openLine.value === NEW_OPEN_LINE) {
        if (!drafts.has(line.id)) {
          drafts.set(line.id, line.name);
          render();
        }
        return;
      }
      if (drafts.delete(line.id)) render();
      if (channel.value !== 'panel' && chosenId() === null) {
        hint.textContent = t('openline.choose');
        hint.hidden = false;
        return;
      }
      await setOpenChannel(line, channel.value, chosenId());
    };
    channel.addEventListener('change', save);
    openLine.addEventListener('change', save);
    const signature = h('input', { type: 'checkbox', id: `signature-${line.id}`, 'data-test': 'open-channel-signature', checked: line.open_channel_signature !== false });
    signature.addEventListener('change', () => setSignature(line, signature.checked));
    const status = line.open_channel_status || 'off';
    const badge = h('span', { class: `badge-state state-${status === 'active' ? 'ok' : status === 'error' ? 'bad' : 'muted'}`, 'data-test': 'open-channel-status', 'data-status': status },
      h('span', { class: 'dot' }), t(`openline.status.${status}`));
    return h('div', { class: 'line-openline', 'data-test': 'open-channel-settings' },
      h('div', { class: 'line-openline-head' }, h('span', { class: 'field-label' }, t('openline.title')), badge),
      h('div', { class: 'line-controls' },
        h('label', { class: 'field', for: channel.id }, h('span', { class: 'field-label' }, t('openline.channel')), channel),
        h('label', { class: 'field', for: openLine.id }, h('span', { class: 'field-label' }, t('openline.line')), openLine),
        h('label', { class: 'check', for: signature.id, title: t('openline.signature.help') }, signature, h('span', {}, t('openline.signature')))),
      drafts.has(line.id) ? newOpenLineForm(line, channel) : null,
      hint,
      openLinesError ? h('p', { class: 'note note-error', 'data-test': 'open-lines-error', role: 'alert' }, t('openline.load.failed', { error: openLinesError })) : null);
  }

  /** The name of a new Open Line for `line`; created in Bitrix24 with the line's user as its queue. */
  function newOpenLineForm(line, channel) {
    const input = h('input', { class: 'input', type: 'text', maxlength: '100', id: `openline-name-${line.id}`, 'data-test': 'open-line-name', value: drafts.get(line.id) || '' });
    input.addEventListener('input', () => drafts.set(line.id, input.value));
    const create = h('button', { class: 'btn btn-primary', type: 'submit', 'data-test': 'create-open-line' }, t('openline.new.create'));
    const cancel = h('button', { class: 'btn', type: 'button', 'data-test': 'cancel-open-line', onclick: () => { drafts.delete(line.id); render(); } }, t('openline.new.cancel'));
    const submit = async (e) => {
      e.preventDefault();
      // The draft, not this input: the card may have been drawn again since it was typed.
      const name = (drafts.get(line.id) ?? input.value).trim();
      if (!name) return;
      create.disabled = true;
      try {
        const created = await api('POST', '/api/open-lines', { name, line_id: line.id });
        openLines = [...(openLines || []), created];
        drafts.delete(line.id);
        ctx.toast(t('openline.created', { name: created.name }));
        const where = channel.value === 'panel' ? 'both' : channel.value;
        await setOpenChannel(line, where, created.id);
      } catch (err) {
        ctx.toast(err.message, 'error');
        create.disabled = false;
      }
    };
    return h('form', { class: 'create-line create-open-line', onsubmit: submit },
      h('label', { class: 'field', for: input.id }, h('span', { class: 'field-label' }, t('openline.new.name')), input),
      create, cancel);
  }

  async function setOpenChannel(line, channel, openLineId) {
    try {
      const sent = Date.now();
      const out = await api('PATCH', `/api/lines/${line.id}`, { open_channel: channel, open_line_id: openLineId });
      // The connector may have told Bitrix24 and published the line's new status (line.updated)
      // before this answer arrived: the stream's line is then the newer one.
      if (!((updatedAt.get(line.id) || 0) >= sent)) lines.set(line.id, { ...line, ...out, state: line.state });
      if (openLines) {
        openLines = openLines.map((ol) => {
          if (ol.line_id === line.id) return { ...ol, line_id: null };
          return ol;
        }).map((ol) => (channel !== 'panel' && ol.id === openLineId ? { ...ol, line_id: line.id } : ol));
      }
      ctx.toast(t('openline.saved', { name: line.name, where: t(`openline.channel.${channel}`).toLowerCase() }));
    } catch (e) {
      ctx.toast(e.message, 'error');
    }
    render();
  }

  async function assign(line, userId) {
    try {
      const out = await api('PUT', `/api/lines/${line.id}/assignment`, { user_id: userId });
      lines.set(line.id, { ...line, ...out, state: line.state });
      ctx.toast(userId === null ? t('line.unassigned.ok', { name: line.name }) : t('line.assigned.ok', { name: line.name, user: ctx.userName(userId) }));
    } catch (e) {
      ctx.toast(e.message, 'error');
    }
    render();
  }

  async function setReceipts(line, on) {
    try {
      const out = await api('PATCH', `/api/lines/${line.id}`, { send_read_receipts: on });
      lines.set(line.id, { ...line, ...out, state: line.state });
      ctx.toast(t(on ? 'line.receipts.on.ok' : 'line.receipts.off.ok', { name: line.name }));
    } catch (e) {
      ctx.toast(e.message, 'error');
    }
    render();
  }

  async function setSignature(line, on) {
    try {
      const out = await api('PATCH', `/api/lines/${line.id}`, { open_channel_signature: on });
      lines.set(line.id, { ...line, ...out, state: line.state });
      ctx.toast(t(on ? 'openline.signature.on.ok' : 'openline.signature.off.ok', { name: line.name }));
    } catch (e) {
      ctx.toast(e.message, 'error');
    }
    render();
  }

  async function act(line, what) {
    try {
      await api('POST', `/api/lines/${line.id}/${what}`);
      await refreshLine(line.id);
    } catch (e) {
      ctx.toast(e.message, 'error');
      await refreshLine(line.id);
    }
  }

  async function remove(line) {
    try {
      await api('DELETE', `/api/lines/${line.id}`);
      lines.delete(line.id);
      render();
      await ctx.loadSubscription();
    } catch (e) {
      ctx.toast(e.message, 'error');
    }
  }

  async function refreshLine(id) {
    try {
      const l = await api('GET', `/api/lines/${id}`);
      lines.set(id, l);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) lines.delete(id);
    }
    render();
  }

  async function connect(id) {
    try {
      const sent = Date.now();
      let st = await api('POST', `/api/lines/${id}/connect`);
      // The stream may have told a newer state (the QR code) before this answer arrived.
      const seen = lastStatus.get(id);
      if (seen && seen.at >= sent) st = seen.st;
      else onStatus(st);
      if (st.state === 'qr' || st.state === 'connecting') openQr(id, st);
    } catch (e) {
      ctx.toast(e.message, 'error');
    }
  }

  // --- the QR dialog -------------------------------------------------------------------------

  function openQr(lineId, st) {
    closeQr(false);
    const box = h('div', { class: 'qr-box', 'data-test': 'qr' });
    const countdown = h('p', { class: 'qr-countdown', 'data-test': 'qr-countdown', 'aria-live': 'off' });
    const status = h('p', { class: 'qr-status', role: 'status', 'data-test': 'qr-status' });
    const closeBtn = h('button', { class: 'btn btn-icon dialog-close', type: 'button', 'aria-label': t('close'), onclick: () => closeQr(true) }, icon('close'));
    const line = lines.get(lineId);
    const dialog = h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'qr-title', 'data-test': 'qr-dialog', 'data-line-id': lineId },
      h('div', { class: 'dialog-head' }, h('h2', { id: 'qr-title' }, t('qr.title')), closeBtn),
      h('p', { class: 'dialog-sub' }, line ? line.name : ''),
      box, countdown, status,
      h('p', { class: 'qr-help' }, t('qr.help')));
    const backdrop = h('div', { class: 'backdrop', onclick: (e) => { if (e.target === backdrop) closeQr(true); } }, dialog);
    backdrop.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') closeQr(true);
      if (e.key === 'Tab') { e.preventDefault(); closeBtn.focus(); }
    });
    replace(dialogHost, backdrop);
    qr = { lineId, box, countdown, status, dialog, expiresAt: 0, timer: setInterval(tick, 250), refreshing: false };
    closeBtn.focus();
    showQrState(st);
  }

  function showQrState(st) {
    if (!qr || st.line_id !== qr.lineId) return;
    qr.dialog.dataset.state = st.state;
    if (st.state === 'qr' && st.qr_svg && st.qr === qr.box.dataset.qr) {
      // The same code again (a repeated connect answer): its countdown keeps running.
      return;
    }
    if (st.state === 'qr' && st.qr_svg) {
      const doc = new DOMParser().parseFromString(st.qr_svg, 'image/svg+xml');
      const svg = doc.documentElement;
      svg.removeAttribute('width');
      svg.removeAttribute('height');
      svg.setAttribute('role', 'img');
      svg.setAttribute('aria-label', 'QR');
      replace(qr.box, document.importNode(svg, true));
      qr.box.dataset.qr = st.qr || '';
      qr.expiresAt = Date.now() + (st.expires_in_ms || 20000);
      qr.refreshing = false;
      qr.status.textContent = '';
      tick();
    } else if (st.state === 'connected') {
      qr.box.classList.add('qr-done');
      replace(qr.box, icon('check', 'qr-check'));
      delete qr.box.dataset.qr;
      qr.countdown.textContent = '';
      qr.status.textContent = t('qr.connected');
      const mine = qr;
      setTimeout(() => { if (qr === mine) closeQr(true); }, 1500);
    } else {
      qr.status.textContent = t(`state.${st.state}`) + (st.reason ? `: ${st.reason}` : '');
    }
  }

  function tick() {
    if (!qr || !qr.expiresAt) return;
    const left = Math.max(0, Math.ceil((qr.expiresAt - Date.now()) / 1000));
    if (left > 0) {
      qr.countdown.textContent = t('qr.expires', { s: left });
      qr.countdown.dataset.seconds = String(left);
    } else {
      qr.countdown.textContent = t('qr.waiting');
      qr.countdown.dataset.seconds = '0';
      qr.box.classList.add('qr-stale');
      // A new code normally arrives by itself (line.status); ask again if it is late.
      if (!qr.refreshing && Date.now() - qr.expiresAt > 3000) {
        qr.refreshing = true;
        const id = qr.lineId;
        api('POST', `/api/lines/${id}/connect`).then(onStatus).catch(() => {});
        setTimeout(() => { if (qr) qr.refreshing = false; }, 5000);
      }
    }
    if (left > 0) qr.box.classList.remove('qr-stale');
  }

  function closeQr(focusBack) {
    if (!qr) return;
    clearInterval(qr.timer);
    const id = qr.lineId;
    qr = null;
    dialogHost.replaceChildren();
    if (focusBack) {
      const c = list.querySelector(`[data-line-id="${id}"] button`);
      if (c) c.focus();
    }
  }

  // --- live ----------------------------------------------------------------------------------

  function onStatus(st) {
    if (!st || st.line_id === undefined) return;
    lastStatus.set(st.line_id, { st, at: Date.now() });
    const line = lines.get(st.line_id);
    if (line) {
      line.state = st.state;
      if (st.state === 'connected') line.status = 'connected';
      if (st.state === 'logged_out') line.status = 'logged_out';
      if (st.state === 'connected' && !line.phone) {
        // The linked number is stored as the pairing completes: read it now and once more.
        refreshLine(line.id);
        setTimeout(() => { if (lines.get(line.id) && !lines.get(line.id).phone) refreshLine(line.id); }, 1500);
      }
    }
    if (qr && qr.lineId === st.line_id) showQrState(st);
    if (loaded) render();
  }

  ctx.stream.on('line.status', onStatus);
  ctx.stream.on('line.created', (p) => { if (p && p.line) { lines.set(p.line.id, { ...p.line, ...(lines.get(p.line.id) || {}) }); render(); renderQuota(); } });
  ctx.stream.on('line.assigned', (p) => {
    if (p && p.line) {
      const old = lines.get(p.line.id);
      lines.set(p.line.id, { ...p.line, state: old ? old.state : p.line.state });
      render();
    }
  });
  ctx.stream.on('line.updated', (p) => {
    if (p && p.line) updatedAt.set(p.line.id, Date.now());
    const old = p && p.line && lines.get(p.line.id);
    if (old) {
      lines.set(p.line.id, { ...old, ...p.line, state: old.state });
      render();
    }
  });
  ctx.stream.on('line.deleted', (p) => { if (p) { lines.delete(p.line_id); render(); } });
  ctx.stream.on('resync', () => { if (loaded) load().catch(() => {}); });

  return {
    el,
    async show() {
      renderQuota();
      await ctx.loadUsers();
      loadAccess();
      try {
        await load();
      } catch (e) {
        ctx.toast(e.message, 'error');
      }
      renderQuota();
    },
    onPlan() {
      renderQuota();
    },
  };
}
