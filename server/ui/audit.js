// The audit log (administrators): filters by kind, line, user and time, the raw payload of each
// record, paging, and an NDJSON export with the same filters. Opening the page verifies the
// tenant's keyed audit chain; a broken chain shows a banner naming the first broken record.

import { api, query } from './api.js';
import { t, kindName } from './i18n.js';
import { h, replace, dateTime } from './format.js';
import { icon } from './icons.js';

const KINDS = [
  'app.installed', 'app.uninstalled', 'auth.issued', 'app.plan_changed', 'line.created', 'line.deleted',
  'line.status_changed', 'line.assigned', 'line.reassigned', 'wa.message_received', 'wa.status_update',
  'wa.connection_state', 'wa.message_queued', 'wa.message_adjusted', 'wa.identity_changed', 'line.settings_changed',
  'auth.sessions_revoked', 'audit.keyed', 'app.upgrade_requested',
  'b24.connector_call', 'b24.connector_event', 'b24.connector_event_unconfirmed', 'conversation.opened',
];

function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export function createAudit(ctx) {
  let records = [];
  let next = null;
  let lines = [];

  const kind = h('select', { class: 'select', id: 'audit-kind', 'data-test': 'audit-kind' },
    h('option', { value: '' }, t('audit.kind.any')), KINDS.map((k) => h('option', { value: k }, kindName(k))));
  const line = h('select', { class: 'select', id: 'audit-line', 'data-test': 'audit-line' });
  const user = h('select', { class: 'select', id: 'audit-user', 'data-test': 'audit-user' });
  const since = h('input', { class: 'input', type: 'datetime-local', id: 'audit-since', 'data-test': 'audit-since' });
  const until = h('input', { class: 'input', type: 'datetime-local', id: 'audit-until', 'data-test': 'audit-until' });
  const field = (label, control) => h('label', { class: 'field', for: control.id }, h('span', { class: 'field-label' }, label), control);
  const exportBtn = h('button', { class: 'btn', type: 'button', 'data-test': 'audit-export', onclick: () => exportLog() }, icon('download'), t('audit.export'));
  const form = h('form', { class: 'card audit-filters', 'data-test': 'audit-filters', onsubmit: (e) => { e.preventDefault(); load(); } },
    field(t('audit.kind'), kind), field(t('audit.line'), line), field(t('audit.user'), user),
    field(t('audit.since'), since), field(t('audit.until'), until),
    h('div', { class: 'audit-buttons' }, h('button', { class: 'btn btn-primary', type: 'submit', 'data-test': 'audit-apply' }, t('audit.apply')), exportBtn));
  const tbody = h('tbody', { 'data-test': 'audit-rows' });
  const table = h('table', { class: 'audit-table' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, t('audit.col.time')), h('th', { scope: 'col' }, t('audit.col.kind')),
      h('th', { scope: 'col' }, t('audit.col.actor')), h('th', { scope: 'col' }, t('audit.col.subject')), h('th', { scope: 'col' }, t('audit.col.payload')))),
    tbody);
  const more = h('button', { class: 'btn', type: 'button', hidden: true, 'data-test': 'audit-more', onclick: () => load(true) }, t('audit.more'));
  const note = h('p', { class: 'list-note', 'data-test': 'audit-note' });
  const integrity = h('p', { class: 'note note-error', role: 'alert', hidden: true, 'data-test': 'audit-broken' });
  const el = h('div', { class: 'page audit' },
    h('div', { class: 'page-head' }, h('h1', {}, t('tab.audit'))),
    integrity,
    form, h('div', { class: 'card table-card' }, table, note, more));

  function filters() {
    const ms = (v) => (v ? new Date(v).getTime() : null);
    return {
      kind: kind.value,
      subject: line.value ? `line:${line.value}` : '',
      actor: user.value,
      since: ms(since.value),
      until: ms(until.value),
    };
  }


  async function load(append = false) {
    const q = { ...filters(), limit: 200 };
    if (append && next !== null) q.after = next;
    try {
      const page = await api('GET', `/api/audit${query(q)}`);
      records = append ? records.concat(page.records) : page.records;
      next = page.next;
      render();
    } catch (e) {
      ctx.toast(e.message, 'error');
    }
  }

  function actorName(a) {
    const [role, id] = String(a).split(':');
    if ((role === 'user' || role === 'admin') && id && ctx.users.has(Number(id))) return `${ctx.userName(Number(id))} (${a})`;
    return a;
  }

  function render() {
    const rs = records;
    replace(tbody, rs.map((r) => {
      const payload = r.payload !== null && r.payload !== undefined ? JSON.stringify(r.payload, null, 2) : r.payload_hex || '';
      const pre = h('pre', { class: 'payload', hidden: true, 'data-test': 'payload', tabindex: '0' }, payload);
      const toggle = h('button', { class: 'btn btn-small', type: 'button', 'aria-expanded': 'false', 'data-test': 'payload-toggle' }, '{ }');
      toggle.setAttribute('aria-label', `${t('audit.payload.show')} #${r.seq}`);
      toggle.addEventListener('click', () => {
        pre.hidden = !pre.hidden;
        toggle.setAttribute('aria-expanded', pre.hidden ? 'false' : 'true');
        payloadRow.hidden = pre.hidden;
      });
      const payloadRow = h('tr', { class: 'payload-row', hidden: true }, h('td', { colspan: '6' }, pre));
      return [
        h('tr', { 'data-test': 'audit-row', 'data-kind': r.kind, 'data-seq': r.seq, 'data-actor': r.actor },
          h('td', { class: 'mono' }, String(r.seq)),
          h('td', { class: 'nowrap' }, dateTime(r.at_ms)),
          h('td', {}, h('span', { class: `kind kind-${r.kind.split('.')[0]}`, title: r.kind }, kindName(r.kind))),
          h('td', {}, actorName(r.actor)),
          h('td', { class: 'mono' }, r.subject),
          h('td', {}, toggle)),
        payloadRow,
      ];
    }));
    note.textContent = rs.length === 0 ? t('audit.none') : '';
    more.hidden = next === null;
  }

  async function checkChain() {
    try {
      const v = await api('GET', '/api/audit/verify');
      integrity.hidden = v.ok;
      const b = v.broken || { seq: '?', reason: '', message: '' };
      const reason = t(`audit.reason.${b.reason}`);
      integrity.textContent = v.ok ? '' : t('audit.broken', { seq: b.seq, reason: reason.startsWith('audit.') ? b.message : reason });
    } catch (e) {
      integrity.hidden = false;
      integrity.textContent = t('audit.unverified', { error: e.message });
    }
  }

  async function exportLog() {
    try {
      const res = await fetch(`/api/audit/export${query(filters())}`, { headers: { Authorization: 'Bearer ' + ctx.session.token } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      const blob = new Blob([text], { type: 'application/x-ndjson' });
      const a = h('a', { href: URL.createObjectURL(blob), download: `audit-${new Date().toISOString().slice(0, 10)}.ndjson` });
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    } catch (e) {
      ctx.toast(e.message, 'error');
    }
  }

  async function loadFilters() {
    try {
      lines = (await api('GET', '/api/lines')).lines;
    } catch {
      lines = [];
    }
    const lv = line.value;
    replace(line, h('option', { value: '' }, t('audit.line.any')), lines.map((l) => h('option', { value: String(l.id) }, `${l.name} (#${l.id})`)));
    line.value = lv;
    await ctx.loadUsers();
    const uv = user.value;
    // Who acted, as the log names them: `admin:N` for administrators, `user:N` for users, `system`.
    replace(user, h('option', { value: '' }, t('audit.user.any')),
      [...ctx.users.values()].sort((a, b) => a.id - b.id).map((u) => h('option', { value: `${u.is_admin ? 'admin' : 'user'}:${u.id}` }, `${u.name} (${u.is_admin ? 'admin' : 'user'}:${u.id})`)),
      h('option', { value: 'system' }, 'system'));
    user.value = uv;
  }

  let first = true;
  return {
    el,
    async show() {
      await loadFilters();
      if (first) {
        first = false;
        since.value = localInput(Date.now() - 7 * 86400000);
      }
      await Promise.all([load(), checkChain()]);
    },
  };
}
