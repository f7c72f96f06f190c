(module
  ;; The chaos run's guest: echoes every message through `reply` (answered
  ;; for a request, dropped for a send or a topic message); a payload whose
  ;; first byte is "T" traps instead, failing the instance.
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (local.get $have)) (i32.const 16)) (i32.const 1)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "handle-message") (param $m i32) (param $len i32) (result i32)
    (local $ptr i32) (local $plen i32)
    (local.set $ptr (i32.add (i32.add (i32.add (local.get $m) (i32.const 24))
      (i32.load offset=4 (local.get $m))) (i32.load offset=8 (local.get $m))))
    (local.set $plen (i32.load offset=12 (local.get $m)))
    (if (i32.and (i32.gt_u (local.get $plen) (i32.const 0))
                 (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 0x54)))
      (then unreachable))
    (drop (call $reply (local.get $ptr) (local.get $plen)))
    (i32.const 0))
)
