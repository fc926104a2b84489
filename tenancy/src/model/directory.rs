//! The portal's people and departments as the tenant caches them, who may use the app, and how
//! a line's responsible person is chosen per conversation.

use std::{fmt, str::FromStr};

use crate::{Error, Result, UserId};

/// A Bitrix24 department id.
pub type DepartmentId = i64;

text_enum!(
    /// How the person responsible for a conversation (the CRM's responsible) is chosen on a
    /// line: once per conversation, then kept.
    ResponsibleMode {
        /// Whoever answers the customer first (before that: the line's assigned user, if any).
        FirstToAnswer = "first_to_answer",
        /// Round robin over the active members of the line's department (and the departments
        /// below it), in user id order, when the conversation starts.
        Evenly = "evenly",
    }
);

/// A department as `department.get` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// `ID`.
    pub id: DepartmentId,
    /// `NAME`.
    pub name: String,
    /// `PARENT` (`None` for the top of the structure).
    pub parent: Option<DepartmentId>,
    /// `UF_HEAD`.
    pub head: Option<UserId>,
}

/// A user as `user.get` reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalUser {
    /// `ID`.
    pub id: UserId,
    /// `NAME` and `LAST_NAME`, joined.
    pub name: String,
    /// `ACTIVE`: false for a fired or deactivated user.
    pub active: bool,
    /// `PERSONAL_PHOTO` (a URL), when set.
    pub avatar: Option<String>,
    /// `UF_DEPARTMENT`.
    pub departments: Vec<DepartmentId>,
}

/// A cached user with what the portal last said of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The Bitrix24 user id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Whether the portal says they are an administrator (as of their last app opening).
    pub is_admin: bool,
    /// Whether the portal says they are active.
    pub active: bool,
    /// Avatar URL.
    pub avatar: Option<String>,
    /// The departments they are in (`UF_DEPARTMENT`), ascending.
    pub departments: Vec<DepartmentId>,
    /// When `user.get` last confirmed them (Unix ms); `None`: never.
    pub synced_at: Option<i64>,
}

/// Who may use the app, as an administrator set it. Both empty: everyone. Administrators are
/// always allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessList {
    /// Users allowed by id.
    pub users: Vec<UserId>,
    /// Departments allowed, with every department below them.
    pub departments: Vec<DepartmentId>,
}

impl AccessList {
    /// Whether the list limits nobody.
    pub fn is_open(&self) -> bool {
        self.users.is_empty() && self.departments.is_empty()
    }
}

/// What the tenant knows of a user, for admitting their requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Whether the portal's last word is that the user exists and is active.
    pub active: bool,
    /// Whether the access list lets them use the app (administrators: always).
    pub allowed: bool,
    /// When `user.get` last confirmed them (Unix ms); `None`: never.
    pub synced_at: Option<i64>,
}
