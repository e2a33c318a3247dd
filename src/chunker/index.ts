export * from './chunker.js';
export * from './polynomial.js';
