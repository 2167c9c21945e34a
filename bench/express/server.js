// The bench's Node peer: POST /tokens as an integrator would write it in Express 5 and
// jsonwebtoken 9, on one Node process (bench/README.md). bench/run.py starts it with
// PORT, BENCH_SPOT_KEY (the Spot's signing key) and BENCH_API_KEY (the API key the
// `tokens-user` scenario sends as a Bearer token) in the environment.
"use strict";

const express = require("express");
const jwt = require("jsonwebtoken");

const KEY = process.env.BENCH_SPOT_KEY;
const AUTHORIZATION = `Bearer ${process.env.BENCH_API_KEY}`;

const app = express();
app.use(express.json());

app.post("/tokens", (req, res) => {
  if (req.get("authorization") !== AUTHORIZATION) {
    return res.status(401).json({ error: "unauthorized" });
  }
  const user = req.body?.user;
  if (!user) {
    return res.status(400).json({ error: "user is required" });
  }
  const { sub, firstName, lastName, email } = user;
  const token = jwt.sign({ sub, firstName, lastName, email }, KEY, {
    algorithm: "HS256",
    expiresIn: 60,
  });
  res.json({ token });
});

app.get("/healthz", (req, res) => {
  res.json({ status: "ok" });
});

app.listen(Number(process.env.PORT), "127.0.0.1", (error) => {
  if (error) {
    throw error;
  }
});
