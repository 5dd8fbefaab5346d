%%% pubsub_bench: the BEAM (Erlang/OTP) side of the trouper pubsub benchmarks.
%%%
%%% Each invocation runs ONE measurement and prints one JSON line per metric
%%% on stdout (bench_util.erl has the format); diagnostics go to stderr.
%%% run_beam_pubsub.sh compiles this module and bench_util.erl into a fresh
%%% temporary directory and runs
%%%
%%%   erl -noshell -noinput +S 2:2 +P 4000000 -pa "$D" \
%%%       -run pubsub_bench main <bench> <n> -s init stop
%%%
%%% Two backends, chosen with PUBSUB_BENCH_BACKEND (default pg); the impl
%%% name printed is beam-pg or beam-registry:
%%%
%%%   pg        OTP's pg (one scope process, one group). A process joins
%%%             with pg:join(Scope, Group, Pid): a call to the scope process,
%%%             which monitors the member and rewrites the group's ETS entry
%%%             {Group, AllMembers, LocalMembers}. A broadcast is
%%%             pg:get_members/2 (that entry's list, copied out of ETS) and
%%%             one `!` per member.
%%%             Each join copies the group's member lists out of ETS and
%%%             back, so N processes joining one group one by one cost
%%%             O(N^2): 20,000 take ~4 s, 40,000 ~20 s, a million would take
%%%             hours. The broadcast and fanout setups therefore join every
%%%             member with one pg:join(Scope, Group, Pids) call (~7 s for a
%%%             million), and `subscribe` runs at a size pg can take (the
%%%             runner's Impl.sizes says which).
%%%   registry  what Phoenix.PubSub does on one node: Elixir's Registry with
%%%             duplicate keys, partitioned by the subscriber's pid,
%%%             written out in plain Erlang (erlang-base has no Elixir). Each
%%%             of PARTITIONS partition processes owns a public duplicate_bag
%%%             ETS table of {Topic, {Pid, Value}} and one of {Pid, Topic};
%%%             a subscriber links itself to its partition and inserts into
%%%             both (Registry.register/3); the partition traps the exit and
%%%             deletes the dead pid's entries. A broadcast is an
%%%             ets:lookup_element/3 per partition and one `!` per entry
%%%             (Registry.dispatch/3 with Phoenix's dispatcher).
%%%
%%% Benchmarks (<bench> <n>), all on one topic:
%%%
%%%   subscribe N   N idle processes (spawn not timed); each is sent
%%%                 `subscribe`, on which it subscribes itself, in batches
%%%                 of BATCH (so the run queue stays small).
%%%       subscribe_rate            1/s  N / time from the first message to
%%%                                      the last subscription.
%%%       bytes_per_subscription    B    VmRSS growth over the subscriptions
%%%                                      / N (processes already spawned).
%%%       erlang_bytes_per_subscription B  erlang:memory(total) growth / N.
%%%   broadcast N   N subscribed processes (not timed); one message to the
%%%                 topic; each counts it in its receive loop.
%%%       broadcast_s               s    until every process handled it.
%%%       broadcast_call_s          s    until the broadcasting code returned
%%%                                      (every message sent).
%%%   fanout N      the shape of the 2M-subscriber run and of Phoenix's
%%%                 fastlane: N processes (as a socket's transport process)
%%%                 subscribed; one broadcast of an already-encoded frame
%%%                 (one shared binary, sent as {socket_push, text, Frame}
%%%                 as Phoenix's fastlane does).
%%%       bytes_per_subscriber      B    VmRSS growth over spawning and
%%%                                      subscribing / N: the process and its
%%%                                      subscription. Printed before the
%%%                                      broadcast.
%%%       erlang_bytes_per_subscriber B  erlang:memory(total) growth / N.
%%%       fanout_s                  s    until every process has the frame.
%%%
%%% Completion is detected with an atomics counter: the process whose count
%%% reaches the target tells the coordinator, so no per-member
%%% acknowledgement is sent.

-module(pubsub_bench).

-export([main/1, run/2]).
%% The partition process of the registry backend (spawned by name).
-export([partition_init/2]).

-define(TOPIC, <<"room:lobby">>).
-define(BATCH, 10000).
-define(PARTITIONS, 4).     % as trouper's pubsub in pubsub_trouper.py
-define(FRAME, <<"[null,null,\"room:lobby\",\"new_msg\","
                 "{\"user\":\"bench\",\"body\":\"hello everyone\"}]">>).

main(Args) ->
    bench_util:main(?MODULE, Args).

run(Bench, N) ->
    Backend = backend(),
    PubSub = start(Backend),
    bench(Bench, N, PubSub).

backend() ->
    case os:getenv("PUBSUB_BENCH_BACKEND") of
        V when V =:= false; V =:= ""; V =:= "pg" -> pg;
        "registry" -> registry
    end.

%% ---------------------------------------------------------------------------
%% The benchmarks
%% ---------------------------------------------------------------------------

bench(subscribe, N, PubSub) ->
    Ctr = atomics:new(2, []),
    Report = {self(), subscribed},
    Body = fun() -> member(PubSub, Ctr, {Report, {?BATCH, N}}, none) end,
    Pids = bench_util:spawn_n(N, Body),
    settle(),
    {Rss0, Mem0} = memory(),
    T0 = bench_util:now_native(),
    subscribe_in_batches(Pids, 0),
    T1 = bench_util:now_native(),
    settle(),
    {Rss1, Mem1} = memory(),
    N = count(PubSub),
    [{subscribe_rate, N / bench_util:secs(T1 - T0), "1/s"},
     {bytes_per_subscription, (Rss1 - Rss0) / N, "B"},
     {erlang_bytes_per_subscription, (Mem1 - Mem0) / N, "B"}];
bench(broadcast, N, PubSub) ->
    {_Pids, Ctr} = subscribers(N, PubSub),
    T0 = bench_util:now_native(),
    broadcast(PubSub, hello),
    T1 = bench_util:now_native(),
    receive {handled, N} -> ok end,
    T2 = bench_util:now_native(),
    0 = atomics:get(Ctr, 1) - N,
    [{broadcast_s, bench_util:secs(T2 - T0), "s"},
     {broadcast_call_s, bench_util:secs(T1 - T0), "s"}];
bench(fanout, N, PubSub) ->
    settle(),
    {Rss0, Mem0} = memory(),
    {_Pids, _Ctr} = subscribers(N, PubSub),
    {Rss1, Mem1} = memory(),
    bench_util:emit(fanout, N, bytes_per_subscriber, (Rss1 - Rss0) / N, "B"),
    bench_util:emit(fanout, N, erlang_bytes_per_subscriber, (Mem1 - Mem0) / N, "B"),
    T0 = bench_util:now_native(),
    broadcast(PubSub, {socket_push, text, ?FRAME}),
    receive {handled, N} -> ok end,
    T1 = bench_util:now_native(),
    [{fanout_s, bench_util:secs(T1 - T0), "s"}];
bench(Other, _N, _PubSub) ->
    error({unknown_bench, Other}).

%% N processes subscribed to the topic, idle, the run queues empty. Returns
%% their pids and the counter their receive loops count messages in.
subscribers(N, PubSub) ->
    Ctr = atomics:new(2, []),
    Handled = {{self(), handled}, {N, N}},
    case PubSub of
        {pg, Scope} ->
            Pids = bench_util:spawn_n(N, fun() -> member(PubSub, Ctr, none, Handled) end),
            ok = pg:join(Scope, ?TOPIC, Pids);   % one call: see the header
        {registry, _} ->
            Started = {self(), subscribed},
            Body = fun() ->
                       subscribe(PubSub),
                       bench_util:counter_tick(Ctr, 2, {N, N}, Started),
                       member(PubSub, Ctr, none, Handled)
                   end,
            Pids = bench_util:spawn_n(N, Body),
            receive {subscribed, N} -> ok end
    end,
    N = count(PubSub),
    settle(),
    {Pids, Ctr}.

subscribe_in_batches([], _Done) ->
    ok;
subscribe_in_batches(Pids, Done) ->
    {Batch, Rest} = take(?BATCH, Pids, []),
    [P ! subscribe || P <- Batch],
    Expected = Done + length(Batch),
    receive {subscribed, Expected} -> ok end,
    subscribe_in_batches(Rest, Expected).

take(0, Rest, Acc) -> {Acc, Rest};
take(_, [], Acc) -> {Acc, []};
take(K, [P | Rest], Acc) -> take(K - 1, Rest, [P | Acc]).

%% A subscriber: subscribes when told to (counting in slot 2), counts every
%% other message in slot 1; OnSubscribe and OnMessage say whom to tell
%% when (bench_util:counter_tick/4).
member(PubSub, Ctr, OnSubscribe, OnMessage) ->
    receive
        subscribe ->
            subscribe(PubSub),
            {Report, When} = OnSubscribe,
            bench_util:counter_tick(Ctr, 2, When, Report);
        _Message ->
            {Report, When} = OnMessage,
            bench_util:counter_tick(Ctr, 1, When, Report)
    end,
    member(PubSub, Ctr, OnSubscribe, OnMessage).

settle() ->
    bench_util:wait_run_queues_empty(),
    garbage_collect().

memory() ->
    {bench_util:rss_bytes(), erlang:memory(total)}.

%% ---------------------------------------------------------------------------
%% The backends
%% ---------------------------------------------------------------------------

start(pg) ->
    {ok, _} = pg:start_link(pubsub_bench),
    {pg, pubsub_bench};                % pg's calls take the scope's name
start(registry) ->
    Parts = [start_partition(I) || I <- lists:seq(1, ?PARTITIONS)],
    {registry, list_to_tuple(Parts)}.

%% The calling process subscribes itself.
subscribe({pg, Scope}) ->
    ok = pg:join(Scope, ?TOPIC, self());
subscribe({registry, Parts}) ->
    {Owner, Keys, Pids} = element(erlang:phash2(self(), ?PARTITIONS) + 1, Parts),
    link(Owner),
    %% The pid entry first, so the partition can always clean up (as
    %% Registry does).
    true = ets:insert(Pids, {self(), ?TOPIC}),
    true = ets:insert(Keys, {?TOPIC, {self(), nil}}),
    ok.

%% One message to every subscriber, sent by the caller.
broadcast({pg, Scope}, Message) ->
    [Pid ! Message || Pid <- pg:get_members(Scope, ?TOPIC)],
    ok;
broadcast({registry, Parts}, Message) ->
    [[Pid ! Message || {Pid, _Value} <- entries(Keys)]
     || {_, Keys, _} <- tuple_to_list(Parts)],
    ok.

%% A partition's {Pid, Value} entries for the topic, without copying the key
%% into each (Registry.dispatch/3 reads them the same way).
entries(Keys) ->
    try ets:lookup_element(Keys, ?TOPIC, 2)
    catch error:badarg -> []
    end.

count({pg, Scope}) ->
    length(pg:get_members(Scope, ?TOPIC));
count({registry, Parts}) ->
    lists:sum([ets:info(Keys, size) || {_, Keys, _} <- tuple_to_list(Parts)]).

%% A registry partition: owns its two tables, removes the entries of every
%% linked subscriber that exits.
start_partition(I) ->
    Parent = self(),
    Owner = proc_lib:spawn_link(?MODULE, partition_init, [Parent, I]),
    receive {Owner, Tables} -> erlang:insert_element(1, Tables, Owner) end.

partition_init(Parent, _I) ->
    process_flag(trap_exit, true),
    Options = [duplicate_bag, public, {read_concurrency, true},
               {write_concurrency, true}],
    Keys = ets:new(keys, Options),
    Pids = ets:new(pids, Options),
    Parent ! {self(), {Keys, Pids}},
    partition_loop(Parent, Keys, Pids).

partition_loop(Parent, Keys, Pids) ->
    receive
        {'EXIT', Parent, Reason} ->
            exit(Reason);
        {'EXIT', Pid, _Reason} ->
            [ets:match_delete(Keys, {Topic, {Pid, '_'}})
             || {_, Topic} <- ets:take(Pids, Pid)],
            partition_loop(Parent, Keys, Pids)
    end.
