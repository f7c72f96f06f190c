;; shipping: subscribes to `orders.priced.*` and ships priced orders. Runs as
;; several instances (shipping-0, shipping-1, ...); each receives every
;; priced order (pub-sub fan-out) and logs every 50th.
(module
  (import "airssys" "log" (func $log (param i32 i32 i32)))
  (import "airssys" "self_id" (func $self_id (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "shipped 50 more orders")   ;; 22 bytes
  (global $shipped (mut i32) (i32.const 0))

  (func (export "alloc") (param $len i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $len) (i32.const 60000))
      (then (i32.const 0))
      (else (i32.const 1024))))

  (func (export "init") (result i32)
    ;; an instance knows its own id (shipping-N)
    (if (i32.le_s (call $self_id (i32.const 64) (i32.const 64)) (i32.const 0))
      (then (return (i32.const 1))))
    (i32.const 0))

  (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
    (global.set $shipped (i32.add (global.get $shipped) (i32.const 1)))
    (if (i32.eqz (i32.rem_u (global.get $shipped) (i32.const 50)))
      (then (call $log (i32.const 2) (i32.const 0) (i32.const 22))))
    (i32.const 0))

  (func (export "health") (result i32) (i32.const 0)))
