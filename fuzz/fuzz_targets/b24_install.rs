#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| b24_client::fuzzing::install(data));
