// Load the GLB named by ?model= with three.js's GLTFLoader, as a web app would, and expose
// to the test: window.probe (each mesh's name, part, morph target names and material settings,
// the animations with their durations and tracks, or {error}), window.renderWith(influences),
// which sets morph influences by name on every mesh that has them, renders one frame and
// returns its RGBA pixels (bottom row first) as base64, and window.playClip(name, times,
// vertices), which plays an animation with an AnimationMixer, as an app would, and returns at
// each time every mesh's morph influences and where the given vertices of the head are.
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";

const SIZE = 256;
const BACKGROUND = 0xff00ff; // magenta: no skin, hair or teeth colour
const FOV = 30;

// One entry per three.js mesh, i.e. per glTF primitive: `part` is its glTF mesh's name.
function describe(mesh, parser) {
  const dictionary = mesh.morphTargetDictionary ?? {};
  const material = mesh.material;
  return {
    name: mesh.name,
    part: parser.json.meshes[parser.associations.get(mesh).meshes].name,
    material: material.name,
    morphNames: Object.keys(dictionary).sort((a, b) => dictionary[a] - dictionary[b]),
    morphInfluences: mesh.morphTargetInfluences?.length ?? 0,
    alphaTest: material.alphaTest,
    transparent: material.transparent,
    depthWrite: material.depthWrite,
    vertexColors: material.vertexColors,
    doubleSided: material.side === THREE.DoubleSide,
    hasMap: material.map !== null,
    hasNormalMap: Boolean(material.normalMap),
    hasAoMap: Boolean(material.aoMap),
    hasTangents: mesh.geometry.attributes.tangent !== undefined,
    roughness: material.roughness,
    clearcoat: material.clearcoat ?? 0,
    clearcoatRoughness: material.clearcoatRoughness ?? 0,
    ior: material.ior ?? 1.5,
  };
}

function frontCamera(object) {
  const box = new THREE.Box3().setFromObject(object);
  const centre = box.getCenter(new THREE.Vector3());
  const size = box.getSize(new THREE.Vector3());
  const distance = (0.6 * Math.max(size.x, size.y)) / Math.tan(THREE.MathUtils.degToRad(FOV / 2));
  const camera = new THREE.PerspectiveCamera(FOV, 1, distance / 100, distance * 10);
  camera.position.set(centre.x, centre.y, centre.z + size.z / 2 + distance);
  camera.lookAt(centre);
  return camera;
}

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function playClip(gltf, meshes, name, times, vertices) {
  const clip = gltf.animations.find((animation) => animation.name === name);
  if (clip === undefined) throw new Error(`the GLB has no animation ${name}`);
  const mixer = new THREE.AnimationMixer(gltf.scene);
  mixer.clipAction(clip).play();
  const head = meshes.find((mesh) => mesh.material.name === "head");
  const samples = times.map((time) => {
    mixer.setTime(time);
    const influences = {};
    for (const mesh of meshes) {
      influences[mesh.material.name] = Object.fromEntries(Object.entries(
        mesh.morphTargetDictionary ?? {}).map(([target, index]) => [
        target, mesh.morphTargetInfluences[index]]));
    }
    const positions = vertices.map((index) => head.getVertexPosition(
      index, new THREE.Vector3()).toArray());
    return { time, influences, positions };
  });
  mixer.stopAllAction();
  mixer.uncacheRoot(gltf.scene);
  return samples;
}

async function main() {
  const url = new URLSearchParams(location.search).get("model");
  const gltf = await new GLTFLoader().loadAsync(url);
  const meshes = [];
  gltf.scene.traverse((object) => {
    if (object.isMesh) meshes.push(object);
  });

  const renderer = new THREE.WebGLRenderer({
    canvas: document.getElementById("view"), antialias: false, preserveDrawingBuffer: true,
  });
  renderer.setSize(SIZE, SIZE, false);
  renderer.setClearColor(BACKGROUND);
  const scene = new THREE.Scene();
  const light = new THREE.DirectionalLight(0xffffff, 2);
  light.position.set(0.3, 0.5, 1);
  scene.add(gltf.scene, new THREE.AmbientLight(0xffffff, 1), light);
  const camera = frontCamera(gltf.scene);

  window.renderWith = (influences) => {
    for (const mesh of meshes) {
      for (const [name, value] of Object.entries(influences)) {
        const index = mesh.morphTargetDictionary?.[name];
        if (index === undefined) throw new Error(`${mesh.name} has no morph target ${name}`);
        mesh.morphTargetInfluences[index] = value;
      }
    }
    renderer.render(scene, camera);
    const gl = renderer.getContext();
    const pixels = new Uint8Array(SIZE * SIZE * 4);
    gl.readPixels(0, 0, SIZE, SIZE, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    return base64(pixels);
  };
  window.playClip = (name, times, vertices) => playClip(gltf, meshes, name, times, vertices);
  window.probe = {
    meshes: meshes.map((mesh) => describe(mesh, gltf.parser)), size: SIZE,
    background: BACKGROUND,
    animations: gltf.animations.map((clip) => ({
      name: clip.name, duration: clip.duration, tracks: clip.tracks.map((track) => track.name),
    })),
  };
}

main().catch((error) => {
  window.probe = { error: String(error?.stack ?? error) };
});
