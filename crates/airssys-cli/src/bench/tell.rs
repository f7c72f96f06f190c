//! The `tell_throughput` scenario: sends to one component until all are
//! handled, against a loop of typed `handle-message` calls.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Waits until the components `ids` have handled (or failed) `target`
/// messages in all.
///
/// It polls their counters, yielding to the runtime between reads, for up
/// to [`SPINS`] reads, and only then sleeps between reads. The raw sides
/// learn that a round ended from a channel's wake-up; a timer's sleep here
/// would add its millisecond of granularity to every round of ours (half a
/// quick round of `tell_throughput`).
pub(super) async fn wait_handled(
    host: &ComponentHost,
    ids: &[String],
    target: u64,
    scenario: &'static str,
) -> Result<(), BenchError> {
    /// Counter reads between yields before falling back to sleeping.
    const SPINS: u32 = 200_000;
    let refs: Vec<_> = ids.iter().filter_map(|id| host.component(id)).collect();
    let timeout = Duration::from_secs(120);
    let deadline = Instant::now() + timeout;
    let mut spins = 0u32;
    loop {
        let done: u64 = refs
            .iter()
            .map(|r| {
                let s = r.stats();
                s.handled + s.failed
            })
            .sum();
        if done >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Stalled { scenario, timeout });
        }
        if spins < SPINS {
            spins += 1;
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

/// The host's side of a tell scenario: sends to `sink` until every
/// message of the round is handled.
pub(super) struct HostTells {
    pub(super) host: ComponentHost,
    pub(super) payload: bytes::Bytes,
    pub(super) scenario: &'static str,
    /// Messages handled by `sink` so far (all rounds, and any warm-up).
    pub(super) handled: u64,
}

impl Side for HostTells {
    async fn round(&mut self, n: usize) -> Result<f64, BenchError> {
        let s = self.scenario;
        let t = Instant::now();
        for _ in 0..n {
            self.host
                .send("sink", self.payload.clone())
                .await
                .map_err(host_err(s))?;
        }
        self.handled += n as u64;
        wait_handled(&self.host, &["sink".into()], self.handled, s).await?;
        Ok(n as f64 / t.elapsed().as_secs_f64())
    }
}

/// The raw side of `tell_throughput`: write the message into guest memory
/// and call `handle-message`, in a loop.
struct RawTells {
    store: Store<Option<Vec<u8>>>,
    memory: wasmtime::Memory,
    handle: TypedFunc<(i32, i32), i32>,
    payload: bytes::Bytes,
}

impl Side for RawTells {
    async fn round(&mut self, n: usize) -> Result<f64, BenchError> {
        const S: &str = "tell_throughput";
        let mut header = [0u8; 24];
        header[12..16].copy_from_slice(&(self.payload.len() as u32).to_le_bytes());
        let total = (header.len() + self.payload.len()) as i32;
        let t = Instant::now();
        for _ in 0..n {
            let mem = self.memory.data_mut(&mut self.store);
            mem[1024..1048].copy_from_slice(&header);
            mem[1048..1048 + self.payload.len()].copy_from_slice(&self.payload);
            let code = self
                .handle
                .call_async(&mut self.store, (1024, total))
                .await
                .map_err(wasm_err(S))?;
            std::hint::black_box(code);
            std::hint::black_box(self.store.data_mut().take());
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    }
}

/// `tell_throughput`: [`ROUNDS`](super::rounds::ROUNDS) interleaved rounds
/// of `n / ROUNDS` sends on each side.
pub(super) async fn tell_throughput(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "tell_throughput";
    let payload = bytes::Bytes::from(vec![0xabu8; 64]);
    let host = host(S, 4)?;
    host.spawn(spec("sink".into())).await.map_err(host_err(S))?;
    let mut ours = HostTells {
        host: host.clone(),
        payload: payload.clone(),
        scenario: S,
        handled: 0,
    };

    let engine = WasmEngine::new(EngineConfig::default().max_components(4)).map_err(wasm_err(S))?;
    let pre = raw_pre(&engine, S)?;
    let mut store = Store::new(engine.wasmtime(), None);
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .map_err(wasm_err(S))?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| wasm_err(S)("no memory"))?;
    let handle = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "handle-message")
        .map_err(wasm_err(S))?;
    let mut base = RawTells {
        store,
        memory,
        handle,
        payload,
    };
    let per_round = n.div_ceil(ROUNDS);
    let rounds = Rounds::run(&mut ours, &mut base, per_round).await?;
    host.shutdown(Duration::from_secs(10)).await;
    Ok(rounds.scenario(
        S,
        "msg/s",
        (per_round * ROUNDS) as u64,
        "typed handle-message calls in a loop",
    ))
}
