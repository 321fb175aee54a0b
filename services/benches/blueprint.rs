//! Blueprint parse time against a raw baseline in the same run.
//!
//! The baseline is `serde_json::from_str::<serde_json::Value>` on the same text: it
//! reads the JSON but checks nothing. `blueprint::parse` reads it into typed structs
//! and validates ids, props, tools and permissions. The target is at most 3x the
//! baseline for the calculator, the largest prebuilt app.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use agentos_services::blueprint;

const CALCULATOR: &str = include_str!("../../apps/blueprint/calculator.bp");

fn parse(c: &mut Criterion) {
    // Fail loudly rather than benchmark an error path.
    blueprint::parse(CALCULATOR).expect("the calculator parses");
    let mut group = c.benchmark_group("blueprint_parse_calculator");
    group.throughput(Throughput::Bytes(CALCULATOR.len() as u64));
    group.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(CALCULATOR)).unwrap())
    });
    group.bench_function("blueprint_parse", |b| {
        b.iter(|| blueprint::parse(black_box(CALCULATOR)).unwrap())
    });
    group.finish();

    let text = blueprint::to_stream_text(&blueprint::parse(CALCULATOR).unwrap());
    let mut group = c.benchmark_group("blueprint_stream_calculator");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("stream_parser_push_and_finish", |b| {
        b.iter(|| {
            let mut p = blueprint::StreamParser::new();
            black_box(p.push(black_box(&text)));
            p.finish(agentos_services::tools::ToolRegistry::builtin())
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
