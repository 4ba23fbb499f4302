export * from './codes.js';
export * from './frames.js';
export * from './names.js';
export * from './requests.js';
export * from './credentials.js';
export * from './text.js';
