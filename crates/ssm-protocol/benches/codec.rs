//! Encode and decode throughput of the message codec for 1 KiB and 64 KiB payloads, next to a
//! bare SHA-256 of the same bytes: the digest is the floor neither can go below, so the ratio
//! says how much the codec costs on top of it. Run: `cargo bench -p ssm-protocol --bench codec`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha256};
use ssm_protocol::codec::{ClientMessage, Flags, MessageId, MessageType, PayloadType, SeqNum};

fn message(len: usize) -> ClientMessage {
    ClientMessage {
        message_type: MessageType::OutputStreamData,
        schema_version: 1,
        created_date: 1_763_812_345_678,
        sequence_number: SeqNum(42),
        flags: Flags::NONE,
        message_id: MessageId::from_random(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
        payload_type: PayloadType::Output,
        payload: (0..len).map(|i| (i % 251) as u8).collect(),
    }
}

fn codec(c: &mut Criterion) {
    for (label, len) in [("1KiB", 1024), ("64KiB", 64 * 1024)] {
        let message = message(len);
        let encoded = message.encode().expect("encodes");
        let mut group = c.benchmark_group(label);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function("sha256", |b| b.iter(|| Sha256::digest(black_box(&message.payload))));
        let mut out = Vec::with_capacity(encoded.len());
        group.bench_function("encode", |b| {
            b.iter(|| {
                out.clear();
                black_box(&message).encode_into(&mut out).expect("encodes");
                black_box(out.len())
            })
        });
        group.bench_function("decode", |b| {
            b.iter(|| ClientMessage::decode(black_box(&encoded)).expect("decodes"))
        });
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
