#![no_main]
//! `agentos_kernel::fuzz::grpc_request`, under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| agentos_kernel::fuzz::grpc_request(data));
