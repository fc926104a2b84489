//! One entry of an Open Line's operator queue (`QUEUE` of `imopenlines.config.*`): a user or a
//! department, as the contact center stores it.

use serde_json::{Value, json};

/// One entry of a line's queue, as `QUEUE` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueEntry {
    /// `{"ENTITY_TYPE": "user", "ENTITY_ID": n}`, or a bare user id (the older form).
    User(u64),
    /// `{"ENTITY_TYPE": "department", "ENTITY_ID": n}`: the department's users.
    Department(u64),
}

impl QueueEntry {
    pub(crate) fn to_json(self) -> Value {
        match self {
            QueueEntry::User(id) => json!({"ENTITY_TYPE": "user", "ENTITY_ID": id.to_string()}),
            QueueEntry::Department(id) => {
                json!({"ENTITY_TYPE": "department", "ENTITY_ID": id.to_string()})
            }
        }
    }
}
