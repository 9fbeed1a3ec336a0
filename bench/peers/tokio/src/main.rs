//! tokiobench: the M:N workloads of weft's benchmarks on Tokio's multi-thread runtime
//! with two worker threads (as weft's group of two workers and Go's GOMAXPROCS=2).
//! Usage: tokiobench WORKLOAD [SIZE] | tokiobench --list. BENCH_QUICK=1: reduced sizes.
//! Prints "<workload>\ttokio\t<value>\t<unit>" on stdout, notes on stderr.
use std::time::Instant;
use tokio::sync::mpsc;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime")
}

fn emit(w: &str, v: f64, unit: &str) {
    if v >= 100.0 {
        println!("{}\ttokio\t{:.1}\t{}", w, v, unit);
    } else {
        println!("{}\ttokio\t{:.3}\t{}", w, v, unit);
    }
}

fn skynet(out: mpsc::Sender<u64>, num: u64, size: u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        if size == 1 {
            let _ = out.send(num).await;
            return;
        }
        let (tx, mut rx) = mpsc::channel::<u64>(10);
        let child = size / 10;
        for i in 0..10 {
            tokio::spawn(skynet(tx.clone(), num + i * child, child));
        }
        drop(tx);
        let mut sum = 0;
        for _ in 0..10 {
            sum += rx.recv().await.expect("child result");
        }
        let _ = out.send(sum).await;
    })
}

/// One skynet tree of n leaves on rt, in s; exits 1 on a wrong sum.
fn skynet_tree(rt: &tokio::runtime::Runtime, n: u64) -> f64 {
    rt.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<u64>(1);
        let t0 = Instant::now();
        tokio::spawn(skynet(tx, 0, n));
        let s = rx.recv().await.expect("root result");
        let el = t0.elapsed().as_secs_f64();
        if s != n * (n - 1) / 2 {
            eprintln!("skynet_mt: bad sum {} want {}", s, n * (n - 1) / 2);
            std::process::exit(1);
        }
        el
    })
}

/// skynet_mt: the skynet tree, one task per node; one tree in a fresh process (memory
/// cold, as weft's skynet_mt and Go's peer measure), in s. With SKYNET_MT_WARM=1 (as
/// weft's skynet_mt) the same runtime then runs 3 more trees and the best is a note.
fn bench_skynet_mt(n: u64) {
    let mut p = n;
    while p % 10 == 0 {
        p /= 10;
    }
    if p != 1 {
        eprintln!("tokiobench: skynet_mt needs a power of 10 leaves, not {}", n);
        std::process::exit(2);
    }
    let rt = runtime();
    let cold = skynet_tree(&rt, n);
    eprintln!("note: tokio skynet_mt: {} leaves, 2 worker threads", n);
    if std::env::var_os("SKYNET_MT_WARM").is_some() {
        let warm = (0..3).map(|_| skynet_tree(&rt, n)).fold(f64::INFINITY, f64::min);
        eprintln!("note: tokio skynet_mt: warm tree {:.3} s (best of 3; cold {:.3} s)", warm, cold);
    }
    emit("skynet_mt", cold, "s");
}

/// chan_pingpong_mt: a round trip between two tasks over two channels of capacity 1
/// (Tokio has no unbuffered channel), ns each.
fn bench_chan_pingpong_mt(n: u64) {
    let rt = runtime();
    let ns = rt.block_on(async move {
        tokio::spawn(async move {
            let (ptx, mut prx) = mpsc::channel::<u64>(1);
            let (qtx, mut qrx) = mpsc::channel::<u64>(1);
            let echo = tokio::spawn(async move {
                while let Some(v) = prx.recv().await {
                    if qtx.send(v).await.is_err() {
                        break;
                    }
                }
            });
            let t0 = Instant::now();
            for i in 0..n {
                ptx.send(i).await.expect("send");
                let v = qrx.recv().await.expect("recv");
                assert_eq!(v, i);
            }
            let el = t0.elapsed().as_nanos() as f64 / n as f64;
            drop(ptx);
            let _ = echo.await;
            el
        })
        .await
        .expect("pinger")
    });
    eprintln!("note: tokio chan_pingpong_mt: mpsc channels of capacity 1 (no unbuffered channel in Tokio)");
    emit("chan_pingpong_mt", ns, "ns/op");
}

/// spawn_mt: spawn an empty task and await it, n times, from a task; ns each.
fn bench_spawn_mt(n: u64) {
    let rt = runtime();
    let ns = rt.block_on(async move {
        tokio::spawn(async move {
            let t0 = Instant::now();
            for _ in 0..n {
                tokio::spawn(async {}).await.expect("join");
            }
            t0.elapsed().as_nanos() as f64 / n as f64
        })
        .await
        .expect("spawner")
    });
    emit("spawn_mt", ns, "ns/op");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let table: [(&str, fn(u64), u64, u64); 3] = [
        ("skynet_mt", bench_skynet_mt, 1_000_000, 100_000),
        ("chan_pingpong_mt", bench_chan_pingpong_mt, 2_000_000, 200_000),
        ("spawn_mt", bench_spawn_mt, 2_000_000, 200_000),
    ];
    if args.len() < 2 {
        eprintln!("usage: tokiobench --list | tokiobench WORKLOAD [SIZE]");
        std::process::exit(2);
    }
    if args[1] == "-list" || args[1] == "--list" {
        for (name, _, _, _) in table.iter() {
            println!("{}\ttokio", name);
        }
        return;
    }
    let quick = std::env::var("BENCH_QUICK").map(|v| v == "1").unwrap_or(false);
    for (name, run, full, q) in table.iter() {
        if args[1] == *name {
            let mut n = if quick { *q } else { *full };
            if args.len() > 2 {
                n = match args[2].parse::<u64>() {
                    Ok(v) if v > 0 => v,
                    _ => {
                        eprintln!("tokiobench: bad size {:?}", args[2]);
                        std::process::exit(2);
                    }
                };
            }
            run(n);
            return;
        }
    }
    eprintln!("tokiobench: unknown workload {:?}", args[1]);
    std::process::exit(2);
}
