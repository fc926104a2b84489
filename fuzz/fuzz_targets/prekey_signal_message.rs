#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| { wa_session::fuzzing::prekey_signal_message(data); });
