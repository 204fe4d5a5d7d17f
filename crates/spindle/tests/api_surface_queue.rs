//! API.md as code, `spindle::queue`: compiles only if every name and signature of that
//! section exists. Runs nothing. CI copies it into `crates/spindle/tests/` and builds it.
#![allow(
    dead_code,
    unused_variables,
    unused_must_use,
    unused_imports,
    clippy::all
)]
use std::time::Duration;
const D: Duration = Duration::from_millis(1);

use spindle::queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, TaskDoneError};

fn queues() {
    let q: Queue<u32> = Queue::bounded(2);
    let q2: Queue<u32> = Queue::new();
    let _: Result<(), PutError<u32>> = q.put(1);
    let _: Result<(), PutError<u32>> = q.put_timeout(1, D);
    let _: Result<(), PutError<u32>> = q.try_put(1);
    let _: Result<u32, GetError> = q.get();
    let _: Result<u32, GetError> = q.get_timeout(D);
    let _: Result<u32, GetError> = q.try_get();
    let _: (usize, bool, bool, Option<usize>) = (q.len(), q.is_empty(), q.is_full(), q.maxsize());
    let _: Result<(), TaskDoneError> = q.task_done();
    q.join();
    q.shutdown(false);
    let _: bool = q.is_shutdown();
    for item in &q {
        let _: u32 = item;
    }
    match q.try_put(3) {
        Err(PutError::Full(x)) | Err(PutError::ShutDown(x)) => {
            let _: u32 = x;
        }
        Ok(()) => {}
    }
    match q.try_get() {
        Err(GetError::Empty) | Err(GetError::ShutDown) | Ok(_) => {}
    }

    let l: LifoQueue<u32> = LifoQueue::bounded(2);
    let _ = (
        LifoQueue::<u8>::new(),
        l.put(1),
        l.get(),
        l.task_done(),
        l.len(),
    );
    l.shutdown(true);
    let p: PriorityQueue<u32> = PriorityQueue::new();
    let _ = (
        PriorityQueue::<u8>::bounded(3),
        p.put(1),
        p.try_get(),
        p.is_empty(),
    );
    p.join();
}

#[test]
fn api_surface_queue_compiles() {}
