;; The testkit's probe: a component that stands in for another under its
;; id and reports every message it receives to the test, by publishing a
;; record on `_testkit.probe`:
;;
;;   offset size field
;;   0      4    flags        (as received: bit 0 = a request)
;;   4      4    sender_len
;;   8      4    subject_len
;;   12     4    self_len     (the probe's own id, at most 256 bytes)
;;   16     ...  sender, subject, self id, payload
;;
;; If its configuration has a `reply` key, it answers every message with
;; that value (truncated to 64 KiB).
;;
;; Memory: 0.. constants, 1024.. the message buffer (at most 195000 bytes),
;; 196608.. the record, 458752.. the reply (64 KiB).
(module
  (import "airssys" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (import "airssys" "self_id" (func $self_id (param i32 i32) (result i32)))
  (import "airssys" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 8)
  (data (i32.const 0) "_testkit.probe")     ;; 14 bytes
  (data (i32.const 32) "reply")             ;; 5 bytes

  (func (export "alloc") (param $len i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $len) (i32.const 195000))
      (then (i32.const 0))
      (else (i32.const 1024))))

  (func (export "handle-message") (param $m i32) (param $len i32) (result i32)
    (local $sender_len i32) (local $subject_len i32) (local $payload_len i32)
    (local $self_len i32) (local $r i32) (local $at i32) (local $n i32)
    (local.set $sender_len (i32.load offset=4 (local.get $m)))
    (local.set $subject_len (i32.load offset=8 (local.get $m)))
    (local.set $payload_len (i32.load offset=12 (local.get $m)))
    (local.set $r (i32.const 196608))
    (i32.store (local.get $r) (i32.load (local.get $m)))
    (i32.store offset=4 (local.get $r) (local.get $sender_len))
    (i32.store offset=8 (local.get $r) (local.get $subject_len))
    ;; sender and subject are contiguous at m + 24
    (memory.copy (i32.add (local.get $r) (i32.const 16))
                 (i32.add (local.get $m) (i32.const 24))
                 (i32.add (local.get $sender_len) (local.get $subject_len)))
    (local.set $at (i32.add (i32.add (local.get $r) (i32.const 16))
                            (i32.add (local.get $sender_len) (local.get $subject_len))))
    (local.set $self_len (call $self_id (local.get $at) (i32.const 256)))
    (if (i32.gt_u (local.get $self_len) (i32.const 256))
      (then (local.set $self_len (i32.const 256))))
    (i32.store offset=12 (local.get $r) (local.get $self_len))
    (local.set $at (i32.add (local.get $at) (local.get $self_len)))
    (memory.copy (local.get $at)
                 (i32.add (i32.add (local.get $m) (i32.const 24))
                          (i32.add (local.get $sender_len) (local.get $subject_len)))
                 (local.get $payload_len))
    (local.set $at (i32.add (local.get $at) (local.get $payload_len)))
    (if (i32.lt_s (call $publish (i32.const 0) (i32.const 14)
                                 (local.get $r) (i32.sub (local.get $at) (local.get $r)))
                  (i32.const 0))
      (then (return (i32.const 1))))
    ;; the canned reply, if configured
    (local.set $n (call $config_get (i32.const 32) (i32.const 5) (i32.const 458752) (i32.const 65536)))
    (if (i32.ge_s (local.get $n) (i32.const 0))
      (then
        (if (i32.gt_u (local.get $n) (i32.const 65536))
          (then (local.set $n (i32.const 65536))))
        (drop (call $reply (i32.const 458752) (local.get $n)))))
    (i32.const 0))

  (func (export "health") (result i32) (i32.const 0)))
