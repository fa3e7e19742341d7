//! Criterion benchmarks of the hot paths on 16 MiB inputs (figures for regression tracking;
//! the 1 GiB figures with ratios come from `examples/throughput.rs` via bench/content).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use wharf_content::{Ingest, Profile, commp::CommP};

fn input() -> Vec<u8> {
    (0..16u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn benches(c: &mut Criterion) {
    let data = input();
    let mut g = c.benchmark_group("content-16MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("sha256", |b| b.iter(|| Sha256::digest(&data)));
    g.bench_function("cid-kubo", |b| {
        b.iter(|| wharf_content::unixfs::file_cid(Profile::KUBO, &data))
    });
    g.bench_function("commp-1-thread", |b| {
        b.iter(|| wharf_content::commp::commp(&data))
    });
    g.bench_function("commp-all-threads", |b| {
        b.iter(|| {
            let mut c = CommP::with_threads(CommP::available_threads());
            c.write(&data);
            c.finish()
        })
    });
    g.bench_function("ingest", |b| {
        b.iter(|| {
            let mut ingest = Ingest::new(Profile::KUBO)
                .with_sha256()
                .with_commp(CommP::available_threads());
            let mut car = Vec::new();
            let mut loc = Vec::new();
            for p in data.chunks(1 << 20) {
                ingest.write(p, &mut car);
                car.clear();
            }
            ingest.finish(&mut car, &mut loc)
        })
    });
    g.finish();
}

criterion_group!(content, benches);
criterion_main!(content);
