-- Shared pacing: call reservations against a vendor's rate limit, one limit for every replica
-- on this database (src/store/pacing.rs). SQLite stores pace in process and need no table.
--
-- Calls are counted in one-second buckets of the database's clock. A call may go in bucket s
-- when buckets s - W - 1 ..= s (W = window in seconds) hold fewer than the limit. A call is
-- sent within two seconds of its bucket's start (the caller checks), so any W-second span of
-- sends touches at most those W + 2 buckets and never holds more than the limit: the window
-- has one bucket more than in-process pacing, so the store's answer may take up to a second.
CREATE TABLE pacing_buckets (
    limiter TEXT NOT NULL,
    second BIGINT NOT NULL,
    calls INTEGER NOT NULL CHECK (calls > 0),
    PRIMARY KEY (limiter, second)
);

-- Reserves one call per element of p_max_waits_ms, in order, for the limit p_limiter (at most
-- p_limit calls in any p_window_secs seconds). Element i of waits_ms is how long after now the
-- call may be made, or NULL when no bucket with room starts within p_max_waits_ms[i] (nothing
-- is taken then); element i of valid_ms is how long after now the call must have been made.
-- One advisory lock per limiter serialises reservations from every replica; buckets too old to
-- matter are pruned on the way.
CREATE FUNCTION signgate_reserve_calls(
    p_limiter TEXT,
    p_limit INTEGER,
    p_window_secs INTEGER,
    p_max_waits_ms BIGINT[],
    OUT waits_ms BIGINT[],
    OUT valid_ms BIGINT[]
) LANGUAGE plpgsql AS $$
DECLARE
    span BIGINT := greatest(p_window_secs, 1) + 1;
    cap BIGINT := greatest(p_limit, 1);
    now_ms BIGINT;
    now_s BIGINT;
    secs BIGINT[];
    cnts INTEGER[];
    n INTEGER;
    lo INTEGER := 1;
    total BIGINT;
    cand BIGINT;
    slot_ms BIGINT;
    first_taken INTEGER;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('signgate_pacing:' || p_limiter, 0));
    -- Read the clock after the lock: the previous holder's buckets are committed by now.
    now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT;
    now_s := floor(now_ms / 1000.0)::BIGINT;
    DELETE FROM pacing_buckets WHERE limiter = p_limiter AND second < now_s - span;
    SELECT coalesce(array_agg(b.second ORDER BY b.second), '{}'),
           coalesce(array_agg(b.calls ORDER BY b.second), '{}'),
           coalesce(sum(b.calls), 0)
      INTO secs, cnts, total
      FROM pacing_buckets b WHERE b.limiter = p_limiter;
    n := coalesce(array_length(secs, 1), 0);
    waits_ms := '{}';
    valid_ms := '{}';
    -- Buckets are handed out in order: never before the newest one. The candidate only moves
    -- forward, also past a refused call (which takes nothing, so the next call starts there).
    cand := CASE WHEN n > 0 THEN greatest(now_s, secs[n]) ELSE now_s END;
    FOR i IN 1 .. coalesce(array_length(p_max_waits_ms, 1), 0) LOOP
        LOOP
            WHILE lo <= n AND secs[lo] < cand - span LOOP
                total := total - cnts[lo];
                lo := lo + 1;
            END LOOP;
            EXIT WHEN total < cap;
            cand := secs[lo] + span + 1;
        END LOOP;
        slot_ms := greatest(now_ms, cand * 1000);
        IF slot_ms - now_ms > p_max_waits_ms[i] THEN
            waits_ms := array_append(waits_ms, NULL::BIGINT);
            valid_ms := array_append(valid_ms, NULL::BIGINT);
            CONTINUE;
        END IF;
        IF n > 0 AND secs[n] = cand THEN
            cnts[n] := cnts[n] + 1;
        ELSE
            n := n + 1;
            secs[n] := cand;
            cnts[n] := 1;
        END IF;
        first_taken := coalesce(first_taken, n);
        total := total + 1;
        waits_ms := array_append(waits_ms, slot_ms - now_ms);
        valid_ms := array_append(valid_ms, (cand + 2) * 1000 - now_ms);
    END LOOP;
    IF first_taken IS NOT NULL THEN
        INSERT INTO pacing_buckets (limiter, second, calls)
        SELECT p_limiter, t.s, t.c FROM unnest(secs[first_taken:n], cnts[first_taken:n]) AS t(s, c)
        ON CONFLICT (limiter, second) DO UPDATE SET calls = excluded.calls;
    END IF;
END
$$;
