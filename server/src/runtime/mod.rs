//! The line runtime (in progress on this branch).
