"""Which of Go's leak kernels a source fix of ours could release, and why not.

A kernel is in scope when a goroutine is blocked on a channel operation or on
a lock that a local edit can release: a buffer for a result channel, an
unblocking operation (send, close, cancel, unlock) moved into a `defer` so
every path performs it, or a stop channel / context in a `select`. It is out
of scope when the goroutines wait for each other through lock order (AB-BA,
read-write-read), through the same goroutine taking a lock it already holds,
or through a condition variable or WaitGroup protocol that only a redesign
fixes. Written by reading each kernel in
$(go env GOROOT)/src/runtime/testdata/testgoroutineleakprofile/ and its
goker/README.md; the reason is one line a reader can check against the file.

SCOPE[name] = (in_scope, reason)
"""

from __future__ import annotations

SCOPE: dict[str, tuple[bool, str]] = {
    # commonpatterns.go
    "NoCloseRange": (True, "workers range over a channel nobody closes (unclosed-channel); the send with zero workers cannot be released"),
    "MethodContractViolation": (True, "worker.Start's goroutine waits on done; the caller never calls Stop (unstopped-worker)"),
    "DoubleSend": (True, "the error path sends twice on an unbuffered channel the caller receives once"),
    "EarlyReturn": (True, "the parent returns before receiving from the sender (unbuffered-result-channel)"),
    "NCastLeak": (True, "n senders, one receive (unbuffered-result-channel); the receive with zero items cannot be released"),
    "Timeout": (True, "the parent's select takes ctx.Done() and leaves the sender blocked (unbuffered-result-channel)"),
    # GoKer: channels
    "Cockroach1055": (True, "Stop waits on a WaitGroup whose tasks wait on a channel and a lock Stop holds; mixed channel and WaitGroup"),
    "Cockroach10790": (True, "beginCmds returns on ctx.Done() without draining ch: senders block"),
    "Cockroach13197": (True, "awaitDone waits for ctx.Done(); the transaction's context is never cancelled"),
    "Cockroach13755": (True, "rows are never closed, so awaitDone waits for a cancel that never comes"),
    "Cockroach1462": (True, "workers block sending on Events after the receiver stopped on ShouldStop"),
    "Cockroach18101": (True, "ctx.Done() short-circuits the reader, the senders leak"),
    "Cockroach24808": (True, "a send to a full channel before the Compactor's receiver starts"),
    "Cockroach25456": (True, "a receive on a channel that is only closed when the store drains"),
    "Cockroach35073": (True, "the outbox fails at startup without closing its RowChannel"),
    "Cockroach35931": (True, "the canceller blocks sending metadata to a full inbound stream"),
    "Etcd6857": (True, "Status sends on n.status while the loop selected n.stop"),
    "Grpc1275": (True, "CloseStream never sends the message the reader waits for"),
    "Grpc1424": (True, "lbWatcher returns without draining the done channel"),
    "Grpc660": (True, "the parent returns without draining the done channel"),
    "Grpc862": (True, "on the nil-conn path the ClientConn is never closed (missing deferred Close)"),
    "Istio17860": (True, "statusCh is never drained after the agent stops"),
    "Istio18454": (True, "drains timer.C after a Stop another select case already drained: a drain that need not wait releases it"),
    "Kubernetes25331": (True, "run blocks sending an error on resultChan after Stop cancelled the context"),
    "Kubernetes38669": (True, "process sends on an unbuffered result channel nobody reads after Stop"),
    "Kubernetes5316": (True, "the parent's select takes another case; the sender blocks on the result channel"),
    "Kubernetes70277": (True, "the poller goroutine waits on doneCh, which is never closed"),
    "Moby21233": (True, "the consumer goroutine stops (t.Fatalf) and the progress sender blocks"),
    "Moby33781": (True, "the parent returns on one path without draining the unbuffered channel"),
    "Syncthing5795": (True, "dispatcherLoop blocks on a channel, so dispatcherLoopStopped is never closed"),
    # GoKer: a lock held across a blocked channel operation (a stop channel in the select releases it)
    "Etcd6873": (True, "a goroutine holds a lock while blocked on a channel with no partner"),
    "Etcd7492": (True, "a goroutine holds a lock while blocked on a channel with no partner"),
    "Etcd7902": (True, "the follower holds mu while blocked sending on rcNextc"),
    "Grpc1460": (True, "keepalive waits on awakenKeepalive, which NewStream never signals"),
    "Istio16224": (True, "a goroutine holds a Mutex while blocked sending on a channel"),
    "Kubernetes10182": (True, "a goroutine holds the lock while blocked sending on ch"),
    "Kubernetes1321": (True, "distribute holds m.lock while blocked sending on w.result"),
    "Kubernetes26980": (True, "a goroutine holds a Mutex while blocked on a channel receive"),
    "Kubernetes6632": (True, "WriteFrame holds the lock while blocked on a full resetChan"),
    "Moby28462": (True, "a goroutine holds a lock while sending on stop"),
    # GoKer: a lock left held on some path (a deferred or added Unlock releases it)
    "Cockroach584": (True, "missing mu.Unlock() before a break in the loop"),
    "Etcd5509": (True, "acquire returns holding client.mu.RLock on a failure path"),
    "Grpc3017": (True, "an execution path with a missing unlock"),
    "Grpc795": (True, "an execution path with a missing unlock"),
    "Moby17176": (True, "nrDeletedDevices returns holding devices.Lock when nothing was deleted"),
    "Moby7559": (True, "missing Unlock on a continue path"),
    # Out of scope: lock order
    "Cockroach10214": (False, "AB-BA deadlock: coalescedMu and raftMu taken in opposite orders"),
    "Cockroach7504": (False, "AB-BA deadlock: leaseState and tableNameCache taken in opposite orders"),
    "Kubernetes13135": (False, "AB-BA deadlock between the cacher's and the watch cache's locks"),
    "Kubernetes30872": (False, "AB-BA deadlock: the same two locks taken in opposite orders"),
    "Moby4951": (False, "AB-BA deadlock: devices.Lock and baseInfo.lock taken in opposite orders"),
    "Cockroach3710": (False, "RWR deadlock: RLock taken twice in one call chain with a writer waiting"),
    "Cockroach6181": (False, "RWR deadlock: the same RWMutex taken recursively for reading and writing"),
    "Hugo3251": (False, "RWR deadlock: Lock held, then RLock on the same RWMutex"),
    "Kubernetes58107": (False, "RWR deadlock: readers wait on a Cond holding RLock while a writer queues"),
    "Kubernetes62464": (False, "RWR deadlock: a recursive RLock with a writer waiting"),
    # Out of scope: the same goroutine takes a lock it already holds
    "Cockroach16167": (False, "double locking: two names for one RWMutex, Lock then RLock"),
    "Cockroach9935": (False, "double locking: l.mu.Lock() taken twice in one call chain"),
    "Etcd10492": (False, "double locking: the same Mutex taken twice in one call chain"),
    "Etcd6708": (False, "double locking: the same RWMutex taken twice in one call chain"),
    "Hugo5379": (False, "double locking: contentInitMu taken again inside its own critical section"),
    "Moby36114": (False, "double locking: hotRemoveVHDsAtStart locks svm, already locked by its caller"),
    "Syncthing4829": (False, "double locking: the same RWMutex taken twice in one call chain"),
    # Out of scope: protocol bugs no local unblocking operation fixes
    "Cockroach2448": (False, "cyclic wait between two event loops, each sending to the other: the fix reorders the protocol"),
    "Kubernetes11298": (False, "sync.Cond signals not guaranteed to reach the waiter: a condition-variable protocol bug"),
    "Moby25348": (False, "WaitGroup misuse: Wait inside the loop waits for Done calls that come one per iteration"),
    "Moby27782": (False, "a sync.Cond waiter never signalled once events stop: a condition-variable protocol bug"),
    "Moby30408": (False, "sync.Cond.Wait with no matching Signal or Broadcast"),
    "Serving2137": (False, "channels used as semaphores deadlock with a mutex held across them: a lock-order bug"),
}
