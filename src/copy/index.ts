export { copySnapshots, similarSnapshots, type CopyOptions, type CopyResult, type CopiedSnapshot } from './copy.js';
