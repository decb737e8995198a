-- State and Event.

State.set("count", 1)
assert(State.get("count") == 1)
assert(State.exists("count"))
State.set("user:1", { name = "ada" })
State.set("user:2", { name = "bob" })
local keys = State.keys("user:")
assert(#keys == 2 and keys[1] == "user:1", json.encode(keys))
State.set("count", nil)
assert(State.get("count") == nil and not State.exists("count"))
assert(State.cas("slot", nil, "first") == true)
assert(State.cas("slot", nil, "second") == false)
assert(State.get("slot") == "first")
assert(State.update("n", function(old) return (old or 0) + 41 end) == 41)
assert(State.update("n", function(old) return old + 1 end) == 42)
-- update needs a value; deleting is explicit.
local ok0, err0 = pcall(State.update, "n", function() return nil end)
assert(not ok0 and err0.kind == "invalid" and err0.message:find("State.delete", 1, true), tostring(err0))
assert(State.get("n") == 42)
State.delete("user:1")
assert(State.get("user:1") == nil)

-- Run scope is separate from the spell scope.
State.run.set("tmp", "run-only")
assert(State.run.get("tmp") == "run-only" and State.get("tmp") == nil)

-- A missing namespace name is an error, not the private scope.
local nn_ok, nn = pcall(State.shared, nil)
assert(not nn_ok and nn.kind == "invalid", tostring(nn))
-- Shared namespaces need a grant.
local ok, err = pcall(State.shared("team").get, "k")
assert(not ok and err.kind == "denied" and err.message:find("--allow-state-ns team", 1, true), tostring(err))

-- Events: a subscription sees what is emitted after it.
local sub = Event.subscribe("test.*")
Event.emit("test.hello", { n = 1, list = { 1, 2 } })
Event.emit("other.topic", "ignored")
local ev = sub:next(1000)
assert(ev and ev.topic == "test.hello" and ev.payload.n == 1 and #ev.payload.list == 2, json.encode(ev or {}))
assert(sub:next(10) == nil, "nothing else matches")
ok, err = pcall(Event.emit, "spellhost.fake", {})
assert(not ok and err.kind == "invalid", tostring(err))

assert(config.get("greeting") == "hi", tostring(config.get("greeting")))
assert(config.all().greeting == "hi")
log.debug("a debug line", 1, true)

return "ok"
