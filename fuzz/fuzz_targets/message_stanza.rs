#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| { wa_session::fuzzing::message_stanza(data); });
