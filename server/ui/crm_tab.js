// The chat panel inside a CRM card's "WhatsApp" tab (client mode): which conversations belong
// to the card (compared by phone number as the server does), and the bar that starts a new chat
// from one of the card's lines to one of its numbers (POST /api/lines/{id}/chats {phone}).

import { api, query } from './api.js';
import { t } from './i18n.js';
import { h, replace } from './format.js';

/** The comparable key of a phone number as written: its digits, an 11-digit number's trunk 8 as 7. */
export function phoneKey(s) {
  const d = String(s || '').replace(/\D/g, '');
  if (d.length < 6 || d.length > 15) return null;
  return d.length === 11 && d[0] === '8' ? '7' + d.slice(1) : d;
}

/** Whether a conversation's contact has one of the card's numbers (its phone or its JID's). */
export function ofCard(crm, c) {
  const keys = new Set((crm.phones || []).map(phoneKey).filter(Boolean));
  const jid = c.contact && c.contact.jid ? c.contact.jid.split('@')[0].split(':')[0] : null;
  return [c.contact && c.contact.phone, jid].map(phoneKey).some((k) => k && keys.has(k));
}

/** The card's conversations on the viewer's lines. */
export async function cardConversations(crm) {
  if (!crm.phones || crm.phones.length === 0) return [];
  const r = await api('GET', `/api/conversations/by-phone${query({ phones: crm.phones.join(',') })}`);
  return r.conversations;
}

/**
 * The bar above the list: the card's name and numbers, and "new chat" (a line and a number).
 * `lines()` answers the lines the viewer sees; `onStarted(conversationId)` opens the chat.
 */
export function createCrmBar(ctx, { lines, onStarted }) {
  const crm = ctx.session.crm;
  const lineSelect = h('select', { class: 'select', 'aria-label': t('crm.line'), 'data-test': 'crm-line' });
  const phoneSelect = h('select', { class: 'select', 'aria-label': t('crm.phone'), 'data-test': 'crm-phone' });
  for (const p of crm.phones || []) phoneSelect.append(h('option', { value: p }, p));
  const start = h('button', { class: 'btn btn-primary', type: 'button', 'data-test': 'crm-start' }, t('crm.start'));
  const note = h('div', { class: 'list-note', 'data-test': 'crm-note' });
  const form = h('div', { class: 'crm-new', 'data-test': 'crm-new' }, lineSelect, phoneSelect, start);
  const el = h('div', { class: 'crm-bar', 'data-test': 'crm-bar' },
    h('div', { class: 'crm-title', 'data-test': 'crm-title' }, crm.title || `#${crm.entity_id}`),
    form, note);

  function render() {
    const ls = [...lines().values()].sort((a, b) => a.id - b.id);
    const keep = lineSelect.value;
    replace(lineSelect, ls.map((l) => h('option', { value: String(l.id) }, l.name)));
    if (ls.some((l) => String(l.id) === keep)) lineSelect.value = keep;
    const can = ls.length > 0 && (crm.phones || []).length > 0;
    form.hidden = !can;
    replace(note, (crm.phones || []).length === 0 ? t('crm.nophones') : ls.length === 0 ? t('chats.nolines') : '');
  }

  start.addEventListener('click', async () => {
    const line = Number(lineSelect.value);
    const phone = phoneSelect.value;
    if (!line || !phone) return;
    start.disabled = true;
    try {
      // The number in international form (the CRM may hold `8 916 …`); the answer is the
      // chat, new or existing: {conversation, created, outreach: {cold, ...}}.
      const key = phoneKey(phone);
      const r = await api('POST', `/api/lines/${line}/chats`, { phone: key ? '+' + key : phone });
      if (r && r.outreach && r.outreach.cold) ctx.toast(t('crm.cold'), 'info');
      if (r && r.conversation) await onStarted(r.conversation.id);
    } catch (e) {
      ctx.toast(e.message, 'error');
    } finally {
      start.disabled = false;
    }
  });

  return { el, render };
}
