//! A portal's REST endpoint (`/p/<domain>/rest/<method>`, with a token or as a webhook): the
//! leaky bucket, faults, scopes, method dispatch to the portal, `batch`, and the envelopes.

use std::time::Duration;

use b24_client::{
    ErrorCode, Secret,
    form::{self, FormLimits},
};
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use warp::http;

use crate::{
    faults::FaultAction,
    oauth::auth_grant,
    portal::{AppView, MethodOk, Portal},
    reply::{Reply, error_body, json_reply, reply, time_block},
    sim::Sim,
    state::RecordedCall,
};

/// One REST request: a redirect for a renamed portal, else the call, recorded, with the fault
/// that fired shaping the answer.
pub(crate) async fn call(
    sim: &Sim,
    domain: &str,
    rest: &[&str],
    query: &str,
    mut params: Map<String, Value>,
    ua: Option<String>,
) -> Reply {
    // A renamed portal answers with a redirect to its new domain.
    let renamed = sim.state().renamed.get(domain).cloned();
    if let Some(new) = renamed {
        let base = sim.base_url().unwrap_or_default();
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        let mut r = reply(302, "text/html", b"<html>Moved</html>".to_vec());
        if let Ok(v) =
            http::HeaderValue::from_str(&format!("{base}/p/{new}/rest/{}{q}", rest.join("/")))
        {
            r.headers_mut().insert(http::header::LOCATION, v);
        }
        return r;
    }
    let Some(member_id) = sim.state().domains.get(domain).cloned() else {
        return json_reply(404, &error_body(&ErrorCode::PortalDeleted, "Portal was deleted"));
    };
    // `client_endpoint` ends in `/` and SDKs append `/method`: Bitrix24 answers
    // `/rest//method` as `/rest/method`, so empty segments do not count.
    let rest: Vec<&str> = rest.iter().copied().filter(|s| !s.is_empty()).collect();
    let (webhook, method) = match rest.as_slice() {
        [m] => (None, m.trim_end_matches(".json").to_owned()),
        [uid, code, m] => {
            (Some((uid.to_string(), code.to_string())), m.trim_end_matches(".json").to_owned())
        }
        _ => {
            return json_reply(404, &error_body(&ErrorCode::MethodNotFound, "Method not found"));
        }
    };
    let auth = params.remove("auth").and_then(|a| match a {
        Value::String(s) => Some(s),
        _ => None,
    });
    let recorded_params = Value::Object(params.clone());
    // The bucket refuses before anything else runs, so a call it refuses neither runs the
    // method nor consumes an injected fault.
    let refused = !take_from_bucket(sim, &member_id);
    let fault = if refused { None } else { sim.fire_fault(&member_id, &method) };
    if let Some(d) = fault.as_ref().and_then(FaultAction::latency) {
        tokio::time::sleep(d).await;
    }
    let (status, body) = if refused {
        let c = ErrorCode::QueryLimitExceeded;
        (c.http_status(), error_body(&c, "Too many requests"))
    } else {
        call_inner(
            sim,
            &member_id,
            &method,
            webhook,
            auth.as_deref(),
            Value::Object(params),
            fault.as_ref(),
            ua.clone(),
        )
    };
    // Events the call caused (a new session's dialog start, a deleted line) go out after it.
    sim.deliver_pending(&member_id);
    let error = body.get("error").and_then(Value::as_str).map(str::to_owned);
    sim.record(RecordedCall {
        member_id: Some(member_id),
        method: method.clone(),
        params: recorded_params,
        auth: auth.map(Secret::new),
        status,
        error,
        in_batch: false,
        user_agent: ua,
    });
    match fault {
        Some(FaultAction::TimeoutAfterCommit { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            json_reply(status, &body)
        }
        Some(FaultAction::Html { status }) => reply(
            status,
            "text/html",
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>".to_vec(),
        ),
        Some(FaultAction::Truncated) => {
            let s = body.to_string().into_bytes();
            reply(status, "application/json", s[..s.len() / 2].to_vec())
        }
        Some(FaultAction::NotJson) => {
            reply(200, "text/plain", b"Service temporarily unavailable".to_vec())
        }
        _ => json_reply(status, &body),
    }
}

/// Takes one request from the portal's leaky bucket (a batch counts once); false when the
/// bucket is full (`QUERY_LIMIT_EXCEEDED`).
fn take_from_bucket(sim: &Sim, member_id: &str) -> bool {
    let now = Instant::now().duration_since(sim.inner.origin);
    let mut st = sim.state();
    st.portals.get_mut(member_id).is_none_or(|p| {
        let limit = p.rate_limit;
        p.bucket.try_take(limit, now)
    })
}

#[allow(clippy::too_many_arguments)] // one argument per field of the request
/// The call itself: injected errors, authentication, scope, then the method.
fn call_inner(
    sim: &Sim,
    member_id: &str,
    method: &str,
    webhook: Option<(String, String)>,
    auth: Option<&str>,
    params: Value,
    fault: Option<&FaultAction>,
    ua: Option<String>,
) -> (u16, Value) {
    let err = |code: ErrorCode, d: &str| (code.http_status(), error_body(&code, d));
    match fault {
        Some(FaultAction::Error { code }) => {
            let c = ErrorCode::parse(code);
            return err(c, "injected fault");
        }
        Some(FaultAction::OperationTimeLimit { reset_in }) => {
            let c = ErrorCode::OperationTimeLimit;
            let mut b = error_body(&c, "Method is blocked due to operation time limit.");
            if let Some(o) = b.as_object_mut() {
                o.insert(
                    "time".to_owned(),
                    json!({"operating": 480.0, "operating_reset_at": sim.now() + reset_in}),
                );
            }
            return (c.http_status(), b);
        }
        _ => {}
    }
    let user = match &webhook {
        Some((uid, code)) => {
            if *code != format!("wh{member_id}") {
                return err(ErrorCode::NoAuthFound, "Wrong webhook code");
            }
            uid.parse::<u64>().unwrap_or(0)
        }
        None => match auth_grant(sim, auth) {
            Ok(g) if g.member_id == member_id => g.user_id,
            Ok(_) => {
                return err(ErrorCode::InvalidToken, "The token belongs to another portal");
            }
            Err((code, d)) => return err(code, d),
        },
    };
    let app = AppView { client_id: sim.inner.config.client_id.clone(), now: sim.now() };
    if method.eq_ignore_ascii_case("batch") {
        return batch(sim, member_id, user, webhook.is_some(), &params, &app, ua);
    }
    let mut st = sim.state();
    let Some(p) = st.portals.get_mut(member_id) else {
        return err(ErrorCode::PortalDeleted, "Portal was deleted");
    };
    if let Some(scope) = Portal::scope_of(method)
        && !p.scope.iter().any(|s| s == scope)
    {
        return err(
            ErrorCode::InsufficientScope,
            "The request requires higher privileges than provided by the access token",
        );
    }
    match p.dispatch(method, &params, user, webhook.is_some(), &app) {
        Ok(MethodOk { result, total, next }) => {
            let mut env = json!({"result": result, "time": time_block(sim.now(), 0.2)});
            if let Some(o) = env.as_object_mut() {
                if let Some(t) = total {
                    o.insert("total".to_owned(), json!(t));
                }
                if let Some(n) = next {
                    o.insert("next".to_owned(), json!(n));
                }
            }
            (200, env)
        }
        Err((code, d)) => (documented_status(method, &code), error_body(&code, &d)),
    }
}

/// The HTTP status of a method's error: the code's usual one, except where a method's page
/// documents another.
fn documented_status(method: &str, code: &ErrorCode) -> u16 {
    match code {
        // RD `imconnector/imconnector-list.md`: 400 ACCESS_DENIED "You dont have access to
        // this action".
        ErrorCode::AccessDenied if method.eq_ignore_ascii_case("imconnector.list") => 400,
        _ => code.http_status(),
    }
}

/// `batch`: each command dispatched in turn (with `$result[...]` references), recorded.
fn batch(
    sim: &Sim,
    member_id: &str,
    user: u64,
    webhook: bool,
    params: &Value,
    app: &AppView,
    ua: Option<String>,
) -> (u16, Value) {
    let halt = params.get("halt").and_then(b24_client::quirks::flex_bool).unwrap_or(false);
    let cmds: Vec<(String, String)> = match params.get("cmd") {
        Some(Value::Object(o)) => {
            o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect()
        }
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.as_str().unwrap_or("").to_owned()))
            .collect(),
        _ => return (400, error_body(&ErrorCode::Argument, "cmd is required")),
    };
    if cmds.len() > b24_client::BATCH_LIMIT {
        let c = ErrorCode::BatchLengthExceeded;
        return (c.http_status(), error_body(&c, "Max batch length exceeded"));
    }
    let (mut result, mut errors, mut totals, mut nexts) =
        (Map::new(), Map::new(), Map::new(), Map::new());
    for (key, cmd) in cmds {
        let (m, q) = cmd.split_once('?').unwrap_or((cmd.as_str(), ""));
        let m = m.trim_end_matches(".json").to_owned();
        let sub = form::parse(q.as_bytes(), FormLimits::default()).unwrap_or(Value::Null);
        let sub = substitute_refs(&sub, &result);
        let outcome = if m.eq_ignore_ascii_case("batch") {
            Err((ErrorCode::BatchMethodNotAllowed, "Batch call is not allowed in batch".to_owned()))
        } else {
            let mut st = sim.state();
            match st.portals.get_mut(member_id) {
                None => Err((ErrorCode::PortalDeleted, "Portal was deleted".to_owned())),
                Some(p) => match Portal::scope_of(&m) {
                    Some(scope) if !p.scope.iter().any(|s| s == scope) => {
                        Err((ErrorCode::InsufficientScope, "insufficient scope".to_owned()))
                    }
                    _ => p.dispatch(&m, &sub, user, webhook, app),
                },
            }
        };
        let (status, error) = match &outcome {
            Ok(_) => (200, None),
            Err((c, _)) => (documented_status(&m, c), Some(c.as_str().to_owned())),
        };
        sim.record(RecordedCall {
            member_id: Some(member_id.to_owned()),
            method: m,
            params: sub,
            auth: None,
            status,
            error,
            in_batch: true,
            user_agent: ua.clone(),
        });
        match outcome {
            Ok(ok) => {
                result.insert(key.clone(), ok.result);
                if let Some(t) = ok.total {
                    totals.insert(key.clone(), json!(t));
                }
                if let Some(n) = ok.next {
                    nexts.insert(key.clone(), json!(n));
                }
            }
            Err((c, d)) => {
                errors.insert(key.clone(), error_body(&c, &d));
                if halt {
                    break;
                }
            }
        }
    }
    // PHP sends empty maps as [].
    let php = |m: Map<String, Value>| if m.is_empty() { json!([]) } else { Value::Object(m) };
    (
        200,
        json!({"result": {"result": php(result), "result_error": php(errors), "result_total": php(totals), "result_next": php(nexts), "result_time": []}, "time": time_block(sim.now(), 0.4)}),
    )
}

/// Replaces `$result[key][path]` inside string parameters with earlier results, as Bitrix24
/// does; unresolved references stay as literal text.
fn substitute_refs(v: &Value, done: &Map<String, Value>) -> Value {
    match v {
        Value::String(s) if s.contains("$result[") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("$result[") {
                out.push_str(&rest[..i]);
                let mut t = &rest[i + "$result".len()..];
                let mut segs = vec![];
                while let Some(inner) = t.strip_prefix('[') {
                    let Some(end) = inner.find(']') else { break };
                    segs.push(&inner[..end]);
                    t = &inner[end + 1..];
                }
                let consumed = rest.len() - t.len();
                let found = segs.split_first().and_then(|(k, path)| {
                    let mut cur = done.get(*k)?;
                    for p in path {
                        cur = match cur {
                            Value::Object(m) => m.get(*p)?,
                            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
                            _ => return None,
                        };
                    }
                    Some(match cur {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                });
                out.push_str(&found.unwrap_or_else(|| rest[i..consumed].to_owned()));
                rest = &rest[consumed..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_refs(x, done)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), substitute_refs(x, done))).collect())
        }
        other => other.clone(),
    }
}
