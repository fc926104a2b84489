//! Searching contacts and message text, whatever the case or the phone number's separators.

use sqlx::Row;

use super::{
    Tenant,
    access::{scope_of, visible_conversation},
    rows::{MESSAGE_COLUMNS, message_from_row},
};
use crate::{
    Caller, Contact, MessageHit, Result,
    model::{check_len, page_limit},
};

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`, lower-cased.
fn like_pattern(s: &str) -> String {
    like_exact(&s.to_lowercase())
}

/// A LIKE pattern for `s` as it is (no case folding), wildcards escaped.
fn like_exact(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A condition that `column` contains `query` whatever its case, adding its patterns to
/// `params` (placeholders numbered after those already there). `LOWER` folds only ASCII on
/// SQLite (and non-ASCII only in some PostgreSQL locales), so the query is also tried as
/// typed, capitalised and in capitals: `доставка` finds `Доставка` and `ДОСТАВКА` everywhere.
fn text_match(column: &str, query: &str, params: &mut Vec<String>) -> String {
    let lower = query.to_lowercase();
    let mut chars = lower.chars();
    let capitalised: String =
        chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    let mut variants = vec![like_pattern(query)];
    for v in [like_exact(query), like_exact(&capitalised), like_exact(&query.to_uppercase())] {
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    let mut parts = Vec::with_capacity(variants.len());
    for (i, v) in variants.into_iter().enumerate() {
        params.push(v);
        let n = params.len();
        if i == 0 {
            parts.push(format!("LOWER({column}) LIKE ${n} ESCAPE '\\'"));
        } else {
            parts.push(format!("{column} LIKE ${n} ESCAPE '\\'"));
        }
    }
    format!("({})", parts.join(" OR "))
}

/// The digits of a query typed as a phone number is displayed (`+7 916 000-00-01`,
/// `(916) 000.00.01`): `None` unless it has a digit and nothing but digits and separators.
fn phone_digits(query: &str) -> Option<String> {
    let phone_like = query
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+' | '(' | ')' | '.' | '\u{a0}'));
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    (phone_like && !digits.is_empty()).then_some(digits)
}

/// `column` without the separators a stored phone number may carry.
fn digits_only(column: &str) -> String {
    ["' '", "'-'", "'+'", "'('", "')'", "'.'"]
        .iter()
        .fold(column.to_owned(), |acc, sep| format!("REPLACE({acc}, {sep}, '')"))
}

impl Tenant {
    /// Contacts on the caller's lines whose name, phone or JID contains `query` (case-insensitive;
    /// see [`text_match`]). A query typed as a phone number is displayed (`+7 916 000-00-01`)
    /// is matched by its digits.
    pub async fn search_contacts(
        &self,
        caller: Caller,
        query: &str,
        limit: u32,
    ) -> Result<Vec<Contact>> {
        let limit = page_limit(limit)?;
        check_len(query, 128, "search longer than 128 bytes")?;
        let mut params = Vec::new();
        let mut any = vec![
            text_match("COALESCE(k.push_name, '')", query, &mut params),
            text_match("COALESCE(k.phone, '')", query, &mut params),
            text_match("k.jid", query, &mut params),
        ];
        if let Some(digits) = phone_digits(query) {
            params.push(format!("%{digits}%"));
            any.push(format!("{} LIKE ${}", digits_only("COALESCE(k.phone, '')"), params.len()));
            params.push(format!("%{digits}%@%"));
            any.push(format!("k.jid LIKE ${}", params.len()));
        }
        let (scope, uid) = scope_of(caller, params.len() + 1);
        let sql = format!(
            "SELECT k.id, k.line_id, k.jid, k.phone, k.push_name FROM contacts k \
             JOIN lines l ON l.id = k.line_id \
             WHERE l.deleted_at IS NULL AND {scope} AND ({}) ORDER BY k.id LIMIT ${}",
            any.join(" OR "),
            params.len() + 2,
        );
        let mut tx = self.read().await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in params {
            q = q.bind(p);
        }
        let rows = q.bind(uid).bind(limit).fetch_all(&mut *tx).await?;
        rows.iter()
            .map(|r| {
                Ok(Contact {
                    id: r.try_get("id")?,
                    line_id: r.try_get("line_id")?,
                    jid: r.try_get("jid")?,
                    phone: r.try_get("phone")?,
                    push_name: r.try_get("push_name")?,
                })
            })
            .collect()
    }

    /// Messages on the caller's lines whose text or caption contains `query` (as
    /// [`Tenant::search_contacts`] matches names), newest first, each with its conversation.
    pub async fn search_messages(
        &self,
        caller: Caller,
        query: &str,
        limit: u32,
    ) -> Result<Vec<MessageHit>> {
        let limit = page_limit(limit)?;
        check_len(query, 128, "search longer than 128 bytes")?;
        let mut params = Vec::new();
        let matches = text_match("body", query, &mut params);
        let (scope, uid) = scope_of(caller, params.len() + 1);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE kind <> 'reaction' AND body IS NOT NULL \
             AND line_id IN (SELECT l.id FROM lines l WHERE l.deleted_at IS NULL AND {scope}) \
             AND {matches} ORDER BY id DESC LIMIT ${}",
            params.len() + 2,
        );
        let mut tx = self.read().await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in params {
            q = q.bind(p);
        }
        let rows = q.bind(uid).bind(limit).fetch_all(&mut *tx).await?;
        let mut hits = Vec::with_capacity(rows.len());
        for row in &rows {
            let message = message_from_row(row)?;
            let conversation =
                visible_conversation(&mut tx, caller, message.conversation_id).await?;
            hits.push(MessageHit { conversation, message });
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("Ana"), "%ana%");
        assert_eq!(like_pattern("50%_\\"), "%50\\%\\_\\\\%");
    }
}
