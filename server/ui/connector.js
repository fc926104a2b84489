// The Open Line's connector settings page that Bitrix24 shows inside Open Lines settings
// (placement SETTING_CONNECTOR): which WhatsApp line sends its conversations to this Open Line,
// and, for administrators, choosing it. The server put the session and the placement into the
// page (`connector`: open_line_id, the Bitrix24 flags, and the line that feeds it).

import { api, setToken } from './api.js';
import { setLang, t } from './i18n.js';
import { h, replace, phone } from './format.js';

function readSession() {
  const node = document.getElementById('wab24-session');
  if (!node) return null;
  try {
    return JSON.parse(node.textContent);
  } catch {
    return null;
  }
}

/** The sentence saying which line feeds the Open Line. */
function fedText(line) {
  return line
    ? t('connector.fed', { name: line.name, phone: line.phone ? `(${phone(line.phone)})` : '' }).replace('  ', ' ')
    : t('connector.unfed');
}

async function main() {
  const root = document.getElementById('app');
  const session = readSession();
  setLang(session ? session.lang : navigator.language);
  if (!session || !session.token || !session.connector) {
    replace(root, h('p', { class: 'note note-error' }, 'No session: open this page from Bitrix24.'));
    return;
  }
  setToken(session.token);
  const place = session.connector;
  const openLineId = place.open_line_id;
  let current = place.line; // { id, name, phone, open_channel } or null
  const status = h('p', { 'data-test': 'connector-fed', 'data-line-id': current ? current.id : '' }, fedText(current));
  const result = h('p', { class: 'note', role: 'status', 'data-test': 'connector-result', hidden: true });
  const card = h('div', { class: 'card' }, h('h1', {}, t('connector.title', { id: openLineId })), status);
  replace(root, h('div', { class: 'connector-page', 'data-test': 'connector-page', 'data-open-line-id': openLineId }, card, result));

  if (session.role !== 'admin') {
    card.append(h('p', { class: 'note note-warn', 'data-test': 'connector-admins-only', role: 'note' }, t('connector.admins_only')));
    return;
  }
  let lines = [];
  try {
    lines = (await api('GET', '/api/lines')).lines;
  } catch (e) {
    card.append(h('p', { class: 'note note-error', role: 'alert' }, e.message));
    return;
  }
  if (lines.length === 0) {
    card.append(h('p', { class: 'note note-warn', role: 'note', 'data-test': 'connector-no-lines' }, t('connector.nolines')));
    return;
  }
  const select = h('select', { class: 'select', id: 'connector-line', 'data-test': 'connector-line' },
    h('option', { value: '' }, t('connector.line.none')),
    lines.map((l) => {
      const elsewhere = l.open_channel !== 'panel' && l.open_line_id && l.open_line_id !== openLineId;
      const name = l.phone ? `${l.name} · ${phone(l.phone)}` : l.name;
      return h('option', { value: String(l.id) }, elsewhere ? t('connector.line.elsewhere', { name, id: l.open_line_id }) : name);
    }));
  select.value = current ? String(current.id) : '';
  const both = h('input', { type: 'checkbox', id: 'connector-both', 'data-test': 'connector-both', checked: !current || current.open_channel === 'both' });
  const saveBtn = h('button', { class: 'btn btn-primary', type: 'submit', 'data-test': 'connector-save' }, t('connector.save'));
  const form = h('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); save(); } },
    h('label', { class: 'field', for: select.id }, h('span', { class: 'field-label' }, t('connector.line')), select),
    h('label', { class: 'check', for: both.id }, both, h('span', {}, t('connector.mode'))),
    h('div', { class: 'connector-actions' }, saveBtn));
  root.firstChild.insertBefore(form, result);

  async function save() {
    saveBtn.disabled = true;
    result.hidden = true;
    const chosen = select.value === '' ? null : Number(select.value);
    try {
      // One line per Open Line: the one that fed it goes back to the panel first.
      if (current && current.id !== chosen) {
        await api('PATCH', `/api/lines/${current.id}`, { open_channel: 'panel' });
        current = null;
      }
      if (chosen !== null) {
        const channel = both.checked ? 'both' : 'openline';
        current = await api('PATCH', `/api/lines/${chosen}`, { open_channel: channel, open_line_id: openLineId });
      }
      result.className = 'note';
      result.textContent = t('connector.saved');
    } catch (e) {
      result.className = 'note note-error';
      result.textContent = e.message;
    } finally {
      result.hidden = false;
      saveBtn.disabled = false;
      status.textContent = fedText(current);
      status.dataset.lineId = current ? String(current.id) : '';
    }
  }
}

main();
