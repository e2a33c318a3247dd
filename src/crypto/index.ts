export * from './crypto.js';
export * from './kdf.js';
export { poly1305Aes, clampR, equal16, loadPoly1305 } from './poly1305.js';
