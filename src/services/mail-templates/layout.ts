import type { MailMessage } from '../../ports/mail.js';
import { escapeHtml } from './escape.js';

/**
 * The one layout of every message: a plain-text part and an HTML part saying the same thing,
 * the product name, paragraphs, an optional button with its link also written out (some
 * clients strip links; text-only readers see it whole), and a closing note. Every value is
 * escaped here, so a template cannot forget to.
 */
export interface MailContent {
  to: string;
  productName: string;
  subject: string;
  /** Paragraphs of plain text, in order. */
  paragraphs: string[];
  action?: { label: string; url: string };
  /** Facts as "label: value" lines (time, device, address). */
  facts?: [label: string, value: string][];
  /** The last paragraph: what to do if the reader did not ask for this. */
  closing: string;
}

export function renderMail(content: MailContent): MailMessage {
  const { productName, action, facts = [] } = content;
  const text = [
    ...content.paragraphs,
    ...(action ? [`${action.label}:\n${action.url}`] : []),
    ...(facts.length > 0 ? [facts.map(([label, value]) => `${label}: ${value}`).join('\n')] : []),
    content.closing,
    `— ${productName}`,
  ].join('\n\n');

  const paragraph = (value: string) => `<p style="margin:0 0 16px">${escapeHtml(value)}</p>`;
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(content.subject)}</title></head>`,
    '<body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1a1a1a;max-width:560px;margin:0 auto;padding:24px">',
    `<p style="margin:0 0 24px;font-weight:600">${escapeHtml(productName)}</p>`,
    ...content.paragraphs.map(paragraph),
    ...(action
      ? [
          `<p style="margin:24px 0"><a href="${escapeHtml(action.url)}" style="background:#1a56db;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none">${escapeHtml(action.label)}</a></p>`,
          `<p style="margin:0 0 16px;font-size:13px;word-break:break-all">${escapeHtml(action.url)}</p>`,
        ]
      : []),
    ...(facts.length > 0
      ? [
          '<table style="margin:0 0 16px;font-size:14px">',
          ...facts.map(
            ([label, value]) =>
              `<tr><td style="padding-right:12px;color:#555">${escapeHtml(label)}</td><td>${escapeHtml(value)}</td></tr>`,
          ),
          '</table>',
        ]
      : []),
    paragraph(content.closing),
    '</body></html>',
  ].join('\n');
  return { to: content.to, subject: content.subject, text, html };
}
