//! The OAuth server: the token endpoint (`/oauth/token/`), authorization (`/oauth/authorize/`)
//! and `app.info` on the server endpoint (`/rest/app.info`).

use b24_client::{ErrorCode, Secret, form};
use serde_json::{Map, Value, json};
use warp::http;

use crate::{
    faults::FaultAction,
    reply::{Reply, error_body, iso8601, json_reply, reply, time_block},
    sim::Sim,
    state::{Grant, RecordedCall},
};

/// `POST /oauth/token/`: a token pair for a refresh token or an authorization code.
pub(crate) async fn token(sim: &Sim, params: Map<String, Value>, ua: Option<String>) -> Reply {
    let p = Value::Object(params);
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut recorded = p.clone();
    for k in ["client_secret", "refresh_token", "code"] {
        if let Some(o) = recorded.as_object_mut() {
            o.remove(k);
        }
    }
    let fault = sim.fire_fault("", "oauth/token");
    if let Some(d) = fault.as_ref().and_then(FaultAction::latency) {
        tokio::time::sleep(d).await;
    }
    let now = sim.now();
    let outcome: std::result::Result<Value, (u16, ErrorCode, &str)> = (|| {
        if let Some(FaultAction::Error { code }) = &fault {
            let c = ErrorCode::parse(code);
            return Err((c.http_status(), c, "injected"));
        }
        if s("client_id") != sim.inner.config.client_id
            || s("client_secret") != sim.inner.config.client_secret
        {
            return Err((401, ErrorCode::InvalidClient, "Invalid client credentials"));
        }
        let grant = match s("grant_type").as_str() {
            "refresh_token" => {
                let mut st = sim.state();
                let g = st.refresh.remove(&s("refresh_token")).ok_or((
                    400,
                    ErrorCode::InvalidGrant,
                    "Invalid grant",
                ))?;
                // The used refresh token is spent (settings/oauth/auto-renewal.md: save the new
                // one instead), but the access token it came with stays valid until its own
                // expiry: requests in flight and other holders keep working.
                if g.expires_at < now {
                    return Err((400, ErrorCode::InvalidGrant, "The refresh token has expired"));
                }
                if st.portals.get(&g.member_id).is_none_or(|p| p.uninstalled) {
                    return Err((401, ErrorCode::InvalidClient, "Application not installed"));
                }
                g
            }
            "authorization_code" => {
                let g = sim.state().codes.remove(&s("code")).ok_or((
                    400,
                    ErrorCode::InvalidGrant,
                    "Invalid code",
                ))?;
                if g.expires_at < now {
                    return Err((400, ErrorCode::InvalidGrant, "The code has expired"));
                }
                g
            }
            _ => return Err((400, ErrorCode::InvalidRequest, "grant_type")),
        };
        sim.issue(&grant.member_id, grant.user_id)
            .map_err(|_| (400, ErrorCode::InvalidGrant, "portal is gone"))
    })();
    let (status, body, error) = match outcome {
        Ok(v) => (200, v, None),
        Err((status, code, d)) => (status, error_body(&code, d), Some(code.as_str().to_owned())),
    };
    let member = body.get("member_id").and_then(Value::as_str).map(str::to_owned);
    sim.record(RecordedCall {
        member_id: member,
        method: "oauth/token".to_owned(),
        params: recorded,
        auth: None,
        status,
        error,
        in_batch: false,
        user_agent: ua,
    });
    json_reply(status, &body)
}

/// `/oauth/authorize/`: a code for the portal's user 1, redirected to `redirect_uri`.
pub(crate) fn authorize(sim: &Sim, params: &Map<String, Value>) -> Reply {
    let s = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let member = s("member_id");
    let redirect = s("redirect_uri");
    if s("client_id") != sim.inner.config.client_id || redirect.is_empty() {
        return json_reply(
            400,
            &error_body(&ErrorCode::InvalidClient, "unknown client or no redirect_uri"),
        );
    }
    let now = sim.now();
    let mut st = sim.state();
    let Some(domain) = st.portals.get(&member).map(|p| p.domain.clone()) else {
        return json_reply(400, &error_body(&ErrorCode::InvalidRequest, "member_id"));
    };
    let code = st.token("code");
    st.codes.insert(
        code.clone(),
        Grant { member_id: member.clone(), user_id: 1, expires_at: now + 30 },
    );
    let q = form::encode(
        &json!({"code": code, "state": s("state"), "domain": domain, "member_id": member, "scope": "", "server_domain": "oauth.sim"}),
    );
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let mut r = reply(302, "text/plain", vec![]);
    if let Ok(v) = http::HeaderValue::from_str(&format!("{redirect}{sep}{q}")) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

/// What the access token `auth` grants, or the error Bitrix24 answers.
pub(crate) fn auth_grant(
    sim: &Sim,
    auth: Option<&str>,
) -> std::result::Result<Grant, (ErrorCode, &'static str)> {
    let auth = auth
        .filter(|a| !a.is_empty())
        .ok_or((ErrorCode::NoAuthFound, "Wrong authorization data"))?;
    let g = sim
        .state()
        .access
        .get(auth)
        .cloned()
        .ok_or((ErrorCode::InvalidToken, "The access token provided is invalid."))?;
    if g.expires_at < sim.now() {
        return Err((ErrorCode::ExpiredToken, "The access token provided has expired."));
    }
    Ok(g)
}

/// `/rest/app.info` on the OAuth server: the application and its installation on the portal.
pub(crate) fn app_info(sim: &Sim, mut params: Map<String, Value>, ua: Option<String>) -> Reply {
    let auth = params.remove("auth").and_then(|a| a.as_str().map(str::to_owned));
    let (status, body, member) = match auth_grant(sim, auth.as_deref()) {
        Err((code, d)) => (code.http_status(), error_body(&code, d), None),
        Ok(g) => {
            let st = sim.state();
            let base = sim.base_url().unwrap_or_default();
            match st.portals.get(&g.member_id) {
                Some(p) => {
                    let mut body = json!({"result": {
                    "client_id": sim.inner.config.client_id, "scope": p.scope.join(","), "expires": iso8601(g.expires_at),
                    "install": {"installed": p.installed, "version": 1, "status": "L", "scope": p.scope.join(","), "domain": p.domain,
                                "uri": format!("{base}/p/{}/", p.domain), "client_endpoint": format!("{base}/p/{}/rest/", p.domain),
                                "member_id": p.member_id, "member_type": "PORTAL"},
                    "user_id": g.user_id}, "time": time_block(sim.now(), 0.0)});
                    if let Some(reported) = &p.reported_endpoint
                        && let Some(install) =
                            body.pointer_mut("/result/install").and_then(Value::as_object_mut)
                    {
                        match reported {
                            Some(e) => {
                                install.insert("client_endpoint".to_owned(), e.clone().into())
                            }
                            None => install.remove("client_endpoint"),
                        };
                    }
                    (200, body, Some(g.member_id.clone()))
                }
                None => (401, error_body(&ErrorCode::InvalidToken, "portal is gone"), None),
            }
        }
    };
    let error = body.get("error").and_then(Value::as_str).map(str::to_owned);
    sim.record(RecordedCall {
        member_id: member,
        method: "oauth/app.info".to_owned(),
        params: Value::Object(params),
        auth: auth.map(Secret::new),
        status,
        error,
        in_batch: false,
        user_agent: ua,
    });
    json_reply(status, &body)
}
