//! Writing first: a chat on a line with a phone number, checked through WhatsApp's usync
//! contact query, for the line's assigned user and administrators.

use tenancy::LineId;
use warp::reply::Response;

use super::{
    models::{ConversationOut, StartChat},
    shared::json,
};
use crate::{
    error::{ApiError, ApiResult},
    events::ServerEvent,
    state::{AppState, Session},
};

/// The digits of an international phone number as people type it (`+7 (916) 000-00-01`,
/// `0049 151 …`, `+55.11.9999`): spaces, dashes, dots, slashes and brackets are dropped, a
/// leading `+` or `00` is the international prefix; 6 to 15 digits (E.164) remain, the first
/// not 0. `None` for anything else (letters, a national number with a trunk 0).
#[must_use]
pub fn normalise_phone(input: &str) -> Option<String> {
    let kept: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '-' | '.' | '/' | '(' | ')'))
        .collect();
    let digits = kept.strip_prefix('+').or_else(|| kept.strip_prefix("00")).unwrap_or(&kept);
    let valid = (6..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then(|| digits.to_owned())
}

/// `POST /api/lines/{id}/chats` `{phone}`: the line's conversation with the number, the
/// existing one or a new one once WhatsApp says the number is registered (422
/// `not_on_whatsapp` when it is not), with where the line stands with cold outreach (a number
/// that never wrote counts against the anti-ban limits: the panel warns before the first send).
pub async fn start(
    state: AppState,
    s: Session,
    line_id: LineId,
    body: StartChat,
) -> ApiResult<Response> {
    let phone = normalise_phone(&body.phone).ok_or_else(|| {
        ApiError::BadRequest(
            "phone must be an international number: + and the country code, 6 to 15 digits"
                .to_owned(),
        )
    })?;
    // Only the line's assigned user and administrators (who cannot see the line: 404; who sees
    // it otherwise, as a member of its department: 403).
    let line = s.tenant.line(s.caller(), line_id).await?;
    if let tenancy::Caller::User(uid) = s.caller()
        && line.assigned_user != Some(uid)
    {
        return Err(ApiError::Forbidden(tenancy::START_REFUSED));
    }
    let runtime = state.require_runtime()?;
    let (conversation, created) =
        match s.tenant.conversation_with(s.caller(), line_id, &phone).await? {
            Some(existing) => (existing, false),
            None => {
                let jid = runtime
                    .on_whatsapp(&s.claims.mid, line_id, &phone)
                    .await?
                    .ok_or(ApiError::NotOnWhatsApp)?;
                s.tenant
                    .open_conversation(s.caller(), line_id, &jid.to_string(), &phone, state.now())
                    .await?
            }
        };
    if created {
        // Every viewer of the line lists the new, still empty conversation at once.
        state.bus().publish(ServerEvent::ConversationOpened {
            member_id: s.claims.mid.clone(),
            line_id,
            conversation_id: conversation.id,
        });
    }
    let outreach = runtime.outreach_status(&s.claims.mid, s.caller(), conversation.id).await?;
    tracing::info!(
        member_id = %s.claims.mid,
        line_id,
        conversation_id = conversation.id,
        created,
        cold = outreach.cold,
        "chat opened by phone number"
    );
    Ok(json(&serde_json::json!({
        "conversation": ConversationOut::from(conversation),
        "created": created,
        "outreach": outreach,
    })))
}

#[cfg(test)]
mod tests {
    use super::normalise_phone;

    #[test]
    fn numbers_as_people_type_them() {
        for (typed, digits) in [
            ("+7 (916) 000-00-01", "79160000001"),
            ("0049 151 2345 6789", "4915123456789"),
            ("+55.11.99999.0001", "5511999990001"),
            ("15550001003", "15550001003"),
            (" +1 555 000 1003 ", "15550001003"),
        ] {
            assert_eq!(normalise_phone(typed).as_deref(), Some(digits), "{typed}");
        }
        for bad in [
            "",
            "+",
            "12345",
            "+1 555 CALL NOW",
            "0916 000 00 01",
            "+1234567890123456",
            "++15550001003",
        ] {
            assert_eq!(normalise_phone(bad), None, "{bad}");
        }
    }
}
