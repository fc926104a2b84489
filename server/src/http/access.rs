//! Who may use the app at all: an administrator's list of users and departments (a department
//! with those below it). Empty: everyone; administrators always. A user outside is refused by
//! every request of their sessions ([`crate::state::AppState::admit_user`]) and at `/b24/app`.

use warp::reply::Response;

use super::{models::AccessBody, shared::json};
use crate::{
    error::ApiResult,
    state::{AppState, Session},
};

fn body(list: tenancy::AccessList) -> AccessBody {
    AccessBody { users: list.users, departments: list.departments }
}

/// `GET /api/access` (administrators).
pub async fn get(_state: AppState, s: Session) -> ApiResult<Response> {
    Ok(json(&body(s.tenant.access_list(s.caller()).await?)))
}

/// `PUT /api/access` (administrators): replaces the list; users and departments must be known
/// (listed by `/api/users`; 404 otherwise), at most 1000 of each (400). Audited as
/// `app.access_changed`. Allowed after the trial ended (it protects, it does not use the
/// service).
pub async fn put(state: AppState, s: Session, b: AccessBody) -> ApiResult<Response> {
    let list = tenancy::AccessList { users: b.users, departments: b.departments };
    let saved = s.tenant.set_access_list(s.caller(), &list, state.now()).await?;
    tracing::info!(
        member_id = %s.claims.mid,
        by = s.claims.uid,
        users = saved.users.len(),
        departments = saved.departments.len(),
        "access list changed"
    );
    Ok(json(&body(saved)))
}
