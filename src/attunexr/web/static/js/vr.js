// attunexr WebXR client: three scenarios driven by the VR-client protocol v1 (docs/vr-protocol.md):
// hello with the session token; commands set_level, pause, resume, prompt_suds, end (each acknowledged);
// head pose at 10 Hz and SUDS answers as events.
// Runs in a desktop browser (drag to look around) and enters immersive VR where navigator.xr supports it.
import * as THREE from "three";

const body = document.body;
const sid = body.dataset.session, token = body.dataset.token;
let scenario = body.dataset.scenario;
const state = { level: null, name: "", params: {}, paused: false, ended: false, commands: 0 };
window.attunexrVR = state;

const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
renderer.setSize(window.innerWidth, window.innerHeight);
renderer.xr.enabled = true;
document.body.appendChild(renderer.domElement);

const scene = new THREE.Scene();
const camera = new THREE.PerspectiveCamera(70, window.innerWidth / window.innerHeight, 0.05, 2000);
const rig = new THREE.Group();           // moved by the scenario (e.g. up the floors); the head moves inside it
rig.add(camera);
scene.add(rig);
camera.position.set(0, 1.6, 0);
scene.add(new THREE.HemisphereLight(0xdfeaff, 0x4a4030, 1.1));
const sun = new THREE.DirectionalLight(0xffffff, 1.4); sun.position.set(30, 60, 20); scene.add(sun);

let world = new THREE.Group(); scene.add(world);
const animated = [];
const mat = (c, o = {}) => new THREE.MeshStandardMaterial({ color: c, roughness: 0.8, ...o });

// ------------------------------------------------------------------ scenarios
function clearWorld() { scene.remove(world); world = new THREE.Group(); scene.add(world); animated.length = 0; }

function buildHeights(p) {
  scene.background = new THREE.Color(0x9cc8f0); scene.fog = new THREE.Fog(0x9cc8f0, 80, 600);
  const h = p.height_m || 0;
  const ground = new THREE.Mesh(new THREE.PlaneGeometry(2000, 2000), mat(0x5f8a4a));
  ground.rotation.x = -Math.PI / 2; ground.position.y = -h; world.add(ground);
  const rnd = mulberry(7);
  for (let i = 0; i < 140; i++) {                       // a city below
    const w = 6 + rnd() * 14, hh = 4 + rnd() * 40;
    const b = new THREE.Mesh(new THREE.BoxGeometry(w, hh, w), mat(new THREE.Color().setHSL(0.08, 0.1, 0.4 + rnd() * 0.4)));
    const r = 25 + rnd() * 300, a = rnd() * Math.PI * 2;
    b.position.set(Math.cos(a) * r, -h + hh / 2, -Math.abs(Math.sin(a) * r) - 20); world.add(b);
  }
  const edge = -Math.max(0.3, Math.min(p.railing_distance_m ?? 1.5, 5.0));   // balcony edge in front of the viewer
  const tower = new THREE.Mesh(new THREE.BoxGeometry(16, h + 3, 14), mat(0xb9c0c8));   // the building behind
  tower.position.set(0, -h + (h + 3) / 2 - 3, 1 + 7); world.add(tower);
  for (let f = 1; f * 3.2 < h + 1; f++) {                 // window bands make the floors countable
    const band = new THREE.Mesh(new THREE.PlaneGeometry(16.02, 1.2), mat(0x38506a, { roughness: 0.3 }));
    band.position.set(0, -h + f * 3.2 - 1.6, 0.99); band.rotation.y = Math.PI; world.add(band);
  }
  const depth = 1 - edge;
  const floorMat = p.glass_floor ? mat(0x99ccee, { transparent: true, opacity: 0.25, roughness: 0.05 }) : mat(0x8d8d8d);
  const balcony = new THREE.Mesh(new THREE.BoxGeometry(6, 0.15, depth), floorMat);
  balcony.position.set(0, -0.075, 1 - depth / 2); world.add(balcony);
  if (h > 0.5) {
    const rail = new THREE.Mesh(new THREE.BoxGeometry(6, 0.06, 0.06), mat(0x444444, { metalness: 0.6 }));
    rail.position.set(0, 1.05, edge); world.add(rail);
    for (let x = -3; x <= 3; x += 0.5) {
      const post = new THREE.Mesh(new THREE.CylinderGeometry(0.02, 0.02, 1.05), mat(0x444444)); post.position.set(x, 0.52, edge); world.add(post);
    }
    const glass = new THREE.Mesh(new THREE.PlaneGeometry(6, 1.0), mat(0xaaddff, { transparent: true, opacity: 0.18 }));
    glass.position.set(0, 0.52, edge); world.add(glass);
  }
  camera.lookAt(0, 0.6 - Math.min(h, 80) * 0.06, -6);     // looking over the edge, further down the higher it is
}

function spider(size) {
  const g = new THREE.Group();
  const dark = mat(0x1b120c, { roughness: 0.6 });
  const abdomen = new THREE.Mesh(new THREE.SphereGeometry(0.09 * size, 16, 12), dark); abdomen.position.set(0, 0.09 * size, 0.1 * size); abdomen.scale.set(1, 0.8, 1.3); g.add(abdomen);
  const head = new THREE.Mesh(new THREE.SphereGeometry(0.055 * size, 14, 10), dark); head.position.set(0, 0.07 * size, -0.04 * size); g.add(head);
  for (let side of [-1, 1]) for (let i = 0; i < 4; i++) {
    const leg = new THREE.Mesh(new THREE.CylinderGeometry(0.008 * size, 0.006 * size, 0.22 * size), dark);
    leg.position.set(side * 0.1 * size, 0.06 * size, (i - 1.5) * 0.05 * size); leg.rotation.z = side * 1.0; leg.rotation.y = (i - 1.5) * 0.35 * side; g.add(leg);
  }
  return g;
}

function buildSpiders(p) {
  scene.background = new THREE.Color(0xe9e2d6); scene.fog = null;
  const floor = new THREE.Mesh(new THREE.PlaneGeometry(12, 12), mat(0xc8b89a)); floor.rotation.x = -Math.PI / 2; world.add(floor);
  const wall = new THREE.Mesh(new THREE.PlaneGeometry(12, 4), mat(0xf1ece2)); wall.position.set(0, 2, -5); world.add(wall);
  const table = new THREE.Mesh(new THREE.BoxGeometry(1.6, 0.05, 3), mat(0x8b5a2b)); table.position.set(0, 0.75, -1.5); world.add(table);
  const n = p.count || 1, d = p.distance_m ?? 2;
  const size = (p.size ?? Math.max(0.3, (p.size_cm || 2) / 5)) * 0.7;   // exaggerated so that it is visible in VR
  const move = { none: "still", slow: "crawl", fast: "scurry" }[p.movement] || p.movement || "still";
  const onHand = d <= 0.05;
  if (onHand) {                                          // the patient's hand resting on the table
    const hand = new THREE.Mesh(new THREE.BoxGeometry(0.11, 0.035, 0.2), mat(0xd8a07a)); hand.position.set(0.05, 0.8, -0.42); world.add(hand);
    const arm = new THREE.Mesh(new THREE.CylinderGeometry(0.04, 0.045, 0.45), mat(0x4a6fa5)); arm.rotation.x = Math.PI / 2; arm.position.set(0.05, 0.8, -0.1); world.add(arm);
  }
  for (let i = 0; i < n; i++) {
    const s = spider(size);
    const perRow = Math.min(n, 5);
    const z = onHand ? -0.42 + (Math.floor(i / perRow) * 0.08) : -Math.max(0.3, d) - (i % 2) * 0.3;
    const x = onHand ? 0.05 + ((i % perRow) - (perRow - 1) / 2) * 0.06 : (i - (n - 1) / 2) * Math.min(0.38, 2.4 / n);
    s.position.set(x, onHand ? 0.82 : 0.78, z); s.rotation.y = Math.PI + (i * 0.7);
    s.userData = { base: s.position.clone(), phase: i * 1.3, move: move };
    world.add(s); animated.push(s);
  }
  camera.lookAt(0, 0.8, -d);
}

function buildAudience(p) {
  scene.background = new THREE.Color(0x2d2a35); scene.fog = null;
  const floor = new THREE.Mesh(new THREE.PlaneGeometry(30, 30), mat(0x5b4636)); floor.rotation.x = -Math.PI / 2; world.add(floor);
  const stage = new THREE.Mesh(new THREE.BoxGeometry(8, 0.4, 3), mat(0x3b2f28)); stage.position.set(0, 0.2, 0.5); world.add(stage);
  const podium = new THREE.Mesh(new THREE.BoxGeometry(0.5, 1.1, 0.35), mat(0x6b4a2b)); podium.position.set(0, 0.95, -0.75); world.add(podium);
  const spot = new THREE.SpotLight(0xfff2d0, 40, 30, 0.6, 0.5); spot.position.set(0, 6, 2); spot.target.position.set(0, 0, 0); world.add(spot, spot.target);
  const n = p.audience ?? p.audience_size ?? 0, rnd = mulberry(3);
  const perRow = n > 60 ? 20 : 10;
  const attention = { high: "attentive", low: "distracted" }[p.attention] || p.attention;
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / perRow), col = i % perRow;
    const person = new THREE.Group();
    const shirt = mat(new THREE.Color().setHSL(rnd(), 0.45, 0.45));
    const torso = new THREE.Mesh(new THREE.CapsuleGeometry(0.2, 0.45, 4, 8), shirt); torso.position.y = 0.75; person.add(torso);
    const head = new THREE.Mesh(new THREE.SphereGeometry(0.13, 14, 10), mat(new THREE.Color().setHSL(0.07, 0.4, 0.35 + rnd() * 0.35))); head.position.y = 1.25; person.add(head);
    for (const ex of [-0.045, 0.045]) {                 // eyes show where a listener looks
      const eye = new THREE.Mesh(new THREE.SphereGeometry(0.022, 8, 6), mat(0xffffff)); eye.position.set(ex, 0.03, 0.115); head.add(eye);
      const pupil = new THREE.Mesh(new THREE.SphereGeometry(0.011, 6, 4), mat(0x111111)); pupil.position.set(ex, 0.03, 0.133); head.add(pupil);
    }
    const chair = new THREE.Mesh(new THREE.BoxGeometry(0.5, 0.45, 0.5), mat(0x222244)); chair.position.y = 0.22; person.add(chair);
    person.position.set((col - (perRow - 1) / 2) * 0.9, 0, -3 - row * 1.1);
    const attentive = attention === "attentive" || (attention === "mixed" && rnd() > 0.35) || (attention === "distracted" && rnd() > 0.75);
    person.rotation.y = attentive ? 0 : (rnd() - 0.5) * 1.6;
    person.userData = { head, phase: rnd() * 6, react: p.reactions || "neutral" };
    world.add(person); animated.push(person);
  }
  camera.position.set(0, 2.0, 0.2); camera.lookAt(0, 1.0, -6);
  rig.rotation.y = 0;
}

function mulberry(a) { return () => { a |= 0; a = (a + 0x6d2b79f5) | 0; let t = Math.imul(a ^ (a >>> 15), 1 | a); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }

function buildSafe() {
  scene.background = new THREE.Color(0x7fb3d5); scene.fog = new THREE.Fog(0x7fb3d5, 10, 80);
  const ground = new THREE.Mesh(new THREE.PlaneGeometry(200, 200), mat(0x8fbf7f)); ground.rotation.x = -Math.PI / 2; world.add(ground);
  const water = new THREE.Mesh(new THREE.CircleGeometry(8, 48), mat(0x4f8fbf, { roughness: 0.2 })); water.rotation.x = -Math.PI / 2; water.position.set(0, 0.01, -14); world.add(water);
  camera.lookAt(0, 1.2, -10);
}

function rebuild() {
  clearWorld(); rig.position.set(0, 0, 0); camera.position.set(0, 1.6, 0); camera.quaternion.identity();
  if (state.paused) buildSafe();
  else if (scenario === "heights") buildHeights(state.params);
  else if (scenario === "spiders") buildSpiders(state.params);
  else buildAudience(state.params);
  hud();
}

function hud() {
  document.getElementById("vr-level").textContent = state.level === null ? "–" : String(state.level);
  document.getElementById("vr-level-name").textContent = state.name ? "(" + state.name + ")" : "";
  document.getElementById("vr-state").textContent = state.ended ? "session ended" : state.paused ? "paused: safe place" : "running";
}

function overlay(html, bottom) {
  const o = document.getElementById("overlay");
  o.style.alignItems = bottom ? "flex-end" : "center"; o.style.paddingBottom = bottom ? "24px" : "0";
  if (!html) { o.style.display = "none"; document.getElementById("overlay-box").innerHTML = ""; return; }
  document.getElementById("overlay-box").innerHTML = html; o.style.display = "flex";
}

// ------------------------------------------------------------------ protocol
let ws = null;
let welcomed = false;
function send(msg) { if (ws && ws.readyState === 1 && (welcomed || msg.type === "hello")) ws.send(JSON.stringify(Object.assign({ v: 1 }, msg))); }

function onCommand(m) {
  state.commands += 1;
  if (m.command === "set_level") {
    const params = m.params || {};  // the level's scenario parameters, with its name and the scenario
    state.level = m.level; state.name = params.name || ""; state.params = params; if (params.scenario) scenario = params.scenario;
    if (!state.paused) rebuild(); else hud();
  } else if (m.command === "pause") { state.paused = true; rebuild(); overlay("<h2>Pause</h2><p>Take a slow breath. Your clinician is with you.</p>"); }
  else if (m.command === "resume") { state.paused = false; overlay(null); rebuild(); }
  else if (m.command === "prompt_suds" && document.getElementById("suds")) { /* already asking: keep the answer being given */ }
  else if (m.command === "prompt_suds") {
    overlay("<h2>How distressed are you right now?</h2><p>0 = calm, 100 = the worst you can imagine</p>" +
      "<input id='suds' type='range' min='0' max='100' value='50' data-testid='vr-suds-slider'> <b id='suds-v'>50</b><br><br>" +
      "<button id='suds-ok' data-testid='vr-suds-submit'>Send</button>", true);
    const s = document.getElementById("suds"); s.oninput = () => { document.getElementById("suds-v").textContent = s.value; };
    document.getElementById("suds-ok").onclick = () => { send({ type: "event", t: now(), label: "suds", value: Number(s.value) }); overlay(null); };
  } else if (m.command === "end") { ended(); }
  send({ type: "ack", command_id: m.id, status: "ok" });
}

function ended() { state.ended = true; overlay("<h2>Session ended</h2><p>You can take the headset off.</p>"); hud(); }
function now() { return performance.now() / 1000; }

function connect() {
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  ws = new WebSocket(proto + location.host + "/ws/vr/" + sid);
  ws.onopen = () => send({ type: "hello", token: token, t_now: now(), client: { name: "attunexr-webxr", version: "1" },
                           subscribe: ["command", "end"] });
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "welcome") { welcomed = true; state.ended = false; document.getElementById("vr-state").textContent = "connected"; }
    else if (m.type === "command") onCommand(m);
    else if (m.type === "end") ended();
    else if (m.type === "error") console.warn("attunexr:", m.code, m.message);
  };
  ws.onclose = () => { welcomed = false; if (!state.ended) setTimeout(connect, 1000); };
}

// ------------------------------------------------------------------ head pose, desktop look-around, XR
const pose = new THREE.Vector3(), quat = new THREE.Quaternion();
setInterval(() => {
  const cam = renderer.xr.isPresenting ? renderer.xr.getCamera() : camera;
  cam.getWorldPosition(pose); cam.getWorldQuaternion(quat);
  send({ type: "head_pose", t: now(), position: [pose.x, pose.y, pose.z], rotation: [quat.x, quat.y, quat.z, quat.w] });
}, 100);

let drag = null;
renderer.domElement.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; });
window.addEventListener("pointerup", () => { drag = null; });
window.addEventListener("pointermove", (e) => {
  if (!drag) return;
  const euler = new THREE.Euler().setFromQuaternion(camera.quaternion, "YXZ");
  euler.y -= (e.clientX - drag.x) * 0.004; euler.x = Math.max(-1.4, Math.min(1.4, euler.x - (e.clientY - drag.y) * 0.004));
  camera.quaternion.setFromEuler(euler); drag = { x: e.clientX, y: e.clientY };
});
window.addEventListener("resize", () => { camera.aspect = window.innerWidth / window.innerHeight; camera.updateProjectionMatrix(); renderer.setSize(window.innerWidth, window.innerHeight); });

if (navigator.xr && navigator.xr.isSessionSupported) {
  navigator.xr.isSessionSupported("immersive-vr").then((ok) => {
    if (!ok) return;
    const b = document.getElementById("enter-vr"); b.style.display = "block";
    b.onclick = async () => {
      const session = await navigator.xr.requestSession("immersive-vr", { optionalFeatures: ["local-floor"] });
      renderer.xr.setReferenceSpaceType("local-floor"); await renderer.xr.setSession(session); b.style.display = "none";
    };
  }).catch(() => { /* no immersive support: desktop view only */ });
}

const clock = new THREE.Clock();
renderer.setAnimationLoop(() => {
  const t = clock.getElapsedTime();
  for (const o of animated) {
    const u = o.userData;
    if (u.move === "crawl") { o.position.x = u.base.x + Math.sin(t * 0.6 + u.phase) * 0.12; o.rotation.y = Math.PI + Math.cos(t * 0.6 + u.phase) * 0.5; }
    else if (u.move === "scurry") { o.position.x = u.base.x + Math.sin(t * 2.2 + u.phase) * 0.25; o.position.z = u.base.z + Math.cos(t * 1.7 + u.phase) * 0.12; o.rotation.y = Math.PI + Math.sin(t * 3 + u.phase); }
    else if (u.head) {
      const shake = u.react === "critical" || u.react === "hostile", nod = u.react === "positive" || u.react === "questions";
      u.head.position.y = 1.25 + (nod ? Math.sin(t * 2 + u.phase) * 0.02 : 0);
      u.head.rotation.y = shake ? Math.sin(t * 3 + u.phase) * 0.35 : (u.react === "bored" || u.react === "some bored") ? Math.sin(t * 0.5 + u.phase) * 0.6 : 0;
    }
  }
  renderer.render(scene, camera);
});

rebuild();
connect();
