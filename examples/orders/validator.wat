;; validator: subscribes to `orders.new.*`. For each order it asks `pricing`
;; for a price (request/reply: this guest is suspended, not its thread) and
;; publishes the priced order on `orders.priced.<region>`.
;;
;; A payload starting with `!` is poison: the guest traps (`unreachable`),
;; the message is dead-lettered as `handler_failed`, and the supervisor
;; restarts the component with fresh state. Messages queued behind the
;; poison stay in the mailbox and reach the new incarnation.
;;
;; Memory: 0..64 constants, 4096.. the message buffer (alloc), 65536.. the
;; reply buffer for `request`.
(module
  (import "airssys" "request"
    (func $request (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "airssys" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "pricing")            ;; 7 bytes
  (data (i32.const 16) "orders.priced.")    ;; 14 bytes; region appended at 30

  (func (export "alloc") (param $len i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $len) (i32.const 60000))
      (then (i32.const 0))
      (else (i32.const 4096))))

  (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
    (local $subject i32) (local $subject_len i32)
    (local $payload i32) (local $payload_len i32)
    (local $reply_len i32) (local $region_len i32)
    ;; header: sender_len @4, subject_len @8, payload_len @12; body @24
    (local.set $subject_len (i32.load offset=8 (local.get $ptr)))
    (local.set $payload_len (i32.load offset=12 (local.get $ptr)))
    (local.set $subject
      (i32.add (i32.add (local.get $ptr) (i32.const 24))
               (i32.load offset=4 (local.get $ptr))))
    (local.set $payload (i32.add (local.get $subject) (local.get $subject_len)))

    ;; poison pill: trap
    (if (i32.and (i32.gt_u (local.get $payload_len) (i32.const 0))
                 (i32.eq (i32.load8_u (local.get $payload)) (i32.const 33)))
      (then unreachable))

    ;; region = subject after "orders.new." (11 bytes); no region: reject
    (local.set $region_len (i32.sub (local.get $subject_len) (i32.const 11)))
    (if (i32.le_s (local.get $region_len) (i32.const 0))
      (then (return (i32.const 1))))
    (if (i32.gt_u (local.get $region_len) (i32.const 32))
      (then (return (i32.const 1))))

    ;; ask pricing (1 s timeout); no price: reject (dead-lettered `rejected`)
    (local.set $reply_len
      (call $request (i32.const 0) (i32.const 7)
                     (local.get $payload) (local.get $payload_len)
                     (i32.const 1000) (i32.const 65536) (i32.const 1024)))
    (if (i32.lt_s (local.get $reply_len) (i32.const 0))
      (then (return (i32.const 2))))
    (if (i32.gt_u (local.get $reply_len) (i32.const 1024))
      (then (local.set $reply_len (i32.const 1024))))

    ;; publish the priced order on orders.priced.<region>
    (memory.copy (i32.const 30)
                 (i32.add (local.get $subject) (i32.const 11))
                 (local.get $region_len))
    (if (i32.lt_s
          (call $publish (i32.const 16) (i32.add (i32.const 14) (local.get $region_len))
                         (i32.const 65536) (local.get $reply_len))
          (i32.const 0))
      (then (return (i32.const 3))))
    (i32.const 0))

  (func (export "health") (result i32) (i32.const 0)))
