// The plan page: the portal's plan, lines in use of the quota, the trial, the price per line, and
// (administrators) a request for more lines that the server passes to the operator's billing
// system. Users see the plan and a note that administrators change it.

import { api } from './api.js';
import { t } from './i18n.js';
import { h, replace } from './format.js';
import { icon } from './icons.js';

export function createPlan(ctx, isAdmin) {
  const body = h('div', { class: 'card plan-card', 'data-test': 'plan-page' });
  const el = h('div', { class: 'page plan' },
    h('div', { class: 'page-head' }, h('h1', {}, t('tab.plan'))), body);
  const lines = h('input', { class: 'input', type: 'number', min: '1', max: '10000', step: '1', id: 'plan-lines', 'data-test': 'plan-lines' });
  const total = h('p', { class: 'list-note', 'data-test': 'plan-total', 'aria-live': 'polite' });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit', 'data-test': 'plan-upgrade' }, icon('plus'), t('plan.upgrade'));
  const form = h('form', { class: 'plan-upgrade', 'data-test': 'plan-form', onsubmit: (e) => { e.preventDefault(); requestUpgrade(); } },
    h('label', { class: 'field', for: 'plan-lines' }, h('span', { class: 'field-label' }, t('plan.upgrade.lines')), lines),
    total, submit);
  lines.addEventListener('input', () => showTotal());

  function showTotal() {
    const s = ctx.subscription;
    const n = Number(lines.value);
    total.textContent = s && Number.isInteger(n) && n > 0 ? t('plan.upgrade.total', { total: n * s.price_per_line, currency: s.currency }) : '';
  }

  function render() {
    const s = ctx.subscription;
    if (!s) {
      replace(body, h('p', {}, t('plan.unknown')));
      return;
    }
    const status = s.read_only
      ? h('p', { class: 'note note-error', role: 'alert', 'data-test': 'plan-ended' }, t('plan.trial.ended'))
      : s.trial_days_left !== null && s.trial_days_left !== undefined
        ? h('p', { 'data-test': 'plan-trial' }, t('plan.trial', { plan: s.plan, days: s.trial_days_left }))
        : h('p', { 'data-test': 'plan-paid' }, t('plan.paid', { plan: s.plan }));
    const facts = h('dl', { class: 'plan-facts' },
      h('dt', {}, t('plan.name')), h('dd', { 'data-test': 'plan-name' }, s.plan),
      h('dt', {}, t('plan.lines.label')), h('dd', { 'data-test': 'plan-lines-used' }, t('plan.lines', { used: s.lines_used, allowed: s.lines_allowed })),
      h('dt', {}, t('plan.price')), h('dd', { 'data-test': 'plan-price' }, t('plan.price.value', { price: s.price_per_line, currency: s.currency })));
    let action;
    if (!isAdmin) action = h('p', { class: 'list-note', role: 'note', 'data-test': 'plan-users-note' }, t('plan.users.note'));
    else if (!s.upgrade_available) action = h('p', { class: 'list-note', role: 'note', 'data-test': 'plan-no-hook' }, t('plan.upgrade.unavailable'));
    else {
      if (!lines.value) lines.value = String(Math.max(s.lines_allowed, s.lines_used) + 1);
      showTotal();
      action = form;
    }
    replace(body, status, facts, action);
  }

  async function requestUpgrade() {
    const n = Number(lines.value);
    if (!Number.isInteger(n) || n < 1 || n > 10000) {
      ctx.toast(t('plan.upgrade.invalid'), 'error');
      return;
    }
    submit.disabled = true;
    try {
      await api('POST', '/api/subscription/upgrade', { lines: n });
      ctx.toast(t('plan.upgrade.sent', { lines: n }), 'success');
    } catch (e) {
      ctx.toast(e.message, 'error');
    } finally {
      submit.disabled = false;
    }
  }

  return {
    el,
    async show() {
      await ctx.loadSubscription();
      render();
    },
    onPlan() {
      render();
    },
  };
}
